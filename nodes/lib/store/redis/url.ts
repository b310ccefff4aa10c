import { ConfigError } from "../../node-red/errors";

/** Where the Redis store connects, read from the connection's `redisUrl` credential. */
export interface RedisTarget {
  tls: boolean;
  host: string;
  port: number;
  database: number;
  username?: string;
  password?: string;
  /** The URL without its password, for logs and status texts. */
  display: string;
}

const DEFAULT_PORT = 6379;
const FORMAT = "redis://[:password@]host:port[/db], or rediss:// for TLS";

/**
 * Reads `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS). A URL that does not parse gives a
 * ConfigError that says what is wrong without repeating the URL, which may hold a password.
 */
export function parseRedisUrl(text: string | undefined): RedisTarget {
  const trimmed = (text ?? "").trim();
  if (trimmed === "")
    throw new ConfigError(`the connection's store is redis but it has no redisUrl (${FORMAT})`);
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new ConfigError(`redisUrl does not parse as a URL; expected ${FORMAT}`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConfigError(`redisUrl must start with redis:// or rediss://, not ${url.protocol}//`);
  }
  // URL keeps the brackets of an IPv6 literal; the socket wants the bare address.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw new ConfigError(`redisUrl has no host; expected ${FORMAT}`);
  if (url.search !== "" || url.hash !== "") {
    throw new ConfigError("redisUrl has a query or fragment (?…, #…), which the Redis store does not read");
  }
  const path = url.pathname.replace(/^\/+/, "");
  if (path !== "" && !/^\d{1,5}$/.test(path)) {
    throw new ConfigError(`the database in redisUrl must be a number (e.g. /0), not "/${path}"`);
  }
  const database = path === "" ? 0 : Number(path);
  const port = url.port === "" ? DEFAULT_PORT : Number(url.port);
  const tls = url.protocol === "rediss:";
  const username = decoded(url.username, "user name");
  const password = decoded(url.password, "password");
  const user = username ? `${username}@` : "";
  return {
    tls,
    host,
    port,
    database,
    username,
    password,
    display: `${url.protocol}//${user}${url.host}/${database}`,
  };
}

function decoded(part: string, what: string): string | undefined {
  if (part === "") return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ConfigError(`the ${what} in redisUrl has a broken %-escape`);
  }
}
