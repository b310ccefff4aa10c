import { ConfigError, NotConfiguredError } from "../node-red/errors";

/** Node-RED's roots from settings.js: the editor's (`httpAdminRoot`) and the HTTP nodes' (`httpNodeRoot`). */
export interface HttpRoots {
  httpAdminRoot?: string | false;
  httpNodeRoot?: string | false;
}

/**
 * The connection's `publicUrl`, checked before any API call: the base address at which Clarus reaches this
 * Node-RED (e.g. `https://nodered.example.com`, or with the path a reverse proxy adds). Each refusal says
 * what to change.
 */
export function checkPublicUrl(value: string | undefined, roots: HttpRoots): URL {
  const text = (value ?? "").trim();
  if (text === "") {
    throw new NotConfiguredError(
      "the connection has no public URL (publicUrl), the address at which Clarus reaches this Node-RED",
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `public URL ${JSON.stringify(text)} is not a URL: use the address at which Clarus reaches this Node-RED, e.g. https://nodered.example.com`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`public URL must start with https:// (or http://), not ${url.protocol}//`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError("public URL must not hold a user name or password: Clarus cannot send credentials");
  }
  if (url.search !== "" || text.includes("?")) {
    throw new ConfigError(
      "public URL must not have a query string (?…): the webhook path and token are added after it",
    );
  }
  if (url.hash !== "" || text.includes("#")) {
    throw new ConfigError(
      "public URL must not have a #fragment: it looks like the editor's page address; use the base address of Node-RED",
    );
  }
  const adminRoot = rootPath(roots.httpAdminRoot);
  const nodeRoot = rootPath(roots.httpNodeRoot);
  const path = url.pathname.replace(/\/+$/, "").toLowerCase();
  if (adminRoot !== "" && adminRoot !== nodeRoot && path.endsWith(adminRoot.toLowerCase())) {
    throw new ConfigError(
      `public URL ends with the editor's path ${adminRoot} (httpAdminRoot): use the base address of Node-RED; webhooks are served under httpNodeRoot (${nodeRoot || "/"})`,
    );
  }
  return url;
}

/**
 * `<publicUrl><httpNodeRoot>` without a trailing slash: where this installation's HTTP nodes are reached, the
 * same for replicas behind one URL, and what every webhook URL it registers starts with.
 */
export function nodeRootUrl(publicUrl: URL, httpNodeRoot: string | false | undefined): string {
  return `${publicUrl.origin}${publicUrl.pathname.replace(/\/+$/, "")}${rootPath(httpNodeRoot)}`;
}

/** `<publicUrl><httpNodeRoot><path>[/<token>]`: the URL Clarus posts to, as the receiver serves it. */
export function webhookUrl(
  publicUrl: URL,
  httpNodeRoot: string | false | undefined,
  path: string,
  token?: string,
): string {
  const url = `${nodeRootUrl(publicUrl, httpNodeRoot)}${path}`;
  return token ? `${url}/${encodeURIComponent(token)}` : url;
}

/** A root from settings as a path prefix without a trailing slash: "/" → "", "api/" → "/api". */
function rootPath(root: string | false | undefined): string {
  if (typeof root !== "string") return "";
  const trimmed = root
    .trim()
    .replace(/\/{2,}/g, "/")
    .replace(/\/+$/, "");
  if (trimmed === "") return "";
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}
