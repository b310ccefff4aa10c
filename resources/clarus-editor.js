// Editor code the Clarus nodes share. Node-RED serves a package's resources/ folder at
// resources/<module>/…, and each nodes/*.html that needs these helpers loads this file with a
// <script src> before its own registerType script. Runs in the editor's browser (jQuery `$` and `RED`).
(function () {
  "use strict";

  if (window.ClarusEditor) return;

  /** One IPv4 or IPv6 address, optionally a CIDR range: what allowIps and trustProxy take. */
  var ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(\/\d{1,3})?)$/;

  /** A non-empty list of addresses separated by spaces or commas (a typedInput `validate`). */
  var ADDRESS_LIST =
    /^\s*((\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(\/\d{1,3})?)[\s,]*)+$/;

  /** Whether every entry of a space- or comma-separated list is an address (an empty list is). */
  function isAddressList(v) {
    return String(v == null ? "" : v)
      .split(/[\s,]+/)
      .filter(Boolean)
      .every(function (entry) {
        return ADDRESS.test(entry);
      });
  }

  /**
   * A JSON document the runtime serves, asked for once: `get()` is it once known (else null), `when(callback)`
   * calls back at once when known, else when the runtime answers. A failed request is asked again next time.
   */
  function runtimeDocument(url) {
    var data = null;
    var waiting = [];
    var requested = false;
    function load() {
      if (requested || typeof $ === "undefined" || typeof $.getJSON !== "function") return;
      requested = true;
      $.getJSON(url)
        .done(function (answer) {
          data = answer && typeof answer === "object" ? answer : {};
          var callbacks = waiting;
          waiting = [];
          callbacks.forEach(function (callback) {
            callback(data);
          });
        })
        .fail(function () {
          // The next dialog asks again; this one keeps the values it shows.
          requested = false;
          waiting = [];
        });
    }
    return {
      load: load,
      get: function () {
        return data;
      },
      when: function (callback) {
        if (data) return callback(data);
        waiting.push(callback);
        load();
      },
    };
  }

  // The event vocabulary (nodes/lib/events/vocabulary.ts, served by clarus-connection).
  var vocabularyDocument = runtimeDocument("clarus-wms/events");

  /** Calls back with `{ resource: [action, …] }`: at once when known, else when the runtime answers. */
  function withEvents(callback) {
    vocabularyDocument.when(callback);
  }

  /** Every `resource.action` of a vocabulary, in its order. */
  function eventNames(events) {
    var names = [];
    Object.keys(events).forEach(function (resource) {
      (events[resource] || []).forEach(function (action) {
        names.push(resource + "." + action);
      });
    });
    return names;
  }

  /**
   * Fills a <select> with `first` ({ value, label }), then every event grouped by resource, and selects
   * `current`; a value the vocabulary does not know is kept as an option of its own, not lost.
   */
  function fillEventSelect(select, first, current) {
    function render(events) {
      var value = select.data("clarus-filled") ? select.val() : current;
      select.empty().data("clarus-filled", true);
      $("<option></option>").attr("value", first.value).text(first.label).appendTo(select);
      Object.keys(events).forEach(function (resource) {
        var group = $("<optgroup></optgroup>").attr("label", resource).appendTo(select);
        (events[resource] || []).forEach(function (action) {
          var id = resource + "." + action;
          $("<option></option>").attr("value", id).text(id).appendTo(group);
        });
      });
      var known = select.find("option").filter(function () {
        return this.value === value;
      });
      if (known.length === 0) $("<option></option>").attr("value", value).text(value).appendTo(select);
      select.val(value);
    }
    if (!vocabularyDocument.get()) render({});
    withEvents(render);
  }

  /** Fills a <datalist> with every event, as suggestions for a free-text input. */
  function fillEventDatalist(datalist) {
    withEvents(function (events) {
      datalist.empty();
      eventNames(events).forEach(function (id) {
        $("<option></option>").attr("value", id).appendTo(datalist);
      });
    });
  }

  /**
   * Makes an input a multiple-choice typedInput of every event and `unknown` (unless `withoutUnknown`),
   * holding `current` (an array); an event the list does not know (a typo, or one Clarus added later) stays
   * selected instead of vanishing.
   */
  function eventTypedInput(input, current, withoutUnknown) {
    function types(events, selected) {
      var options = eventNames(events).map(function (id) {
        return { value: id, label: id };
      });
      if (!withoutUnknown) options.push({ value: "unknown", label: "unknown" });
      selected.forEach(function (e) {
        var known = options.some(function (o) {
          return o.value === e;
        });
        if (!known) options.push({ value: e, label: e });
      });
      return [{ value: "events", multiple: true, options: options }];
    }
    input
      .typedInput({ types: types(vocabularyDocument.get() || {}, current) })
      .typedInput("value", current.join(","));
    if (vocabularyDocument.get()) return;
    withEvents(function (events) {
      var selected = splitList(input.typedInput("value"));
      input.typedInput("types", types(events, selected)).typedInput("value", selected.join(","));
    });
  }

  /** A comma-separated list (or an array) as trimmed, non-empty strings. */
  function splitList(value) {
    return (Array.isArray(value) ? value : String(value || "").split(","))
      .map(function (e) {
        return String(e).trim();
      })
      .filter(Boolean);
  }

  /**
   * The second output follows a checkbox (`#node-input-<property>`), so the Appearance tab shows the right
   * port labels: call from oneditprepare; `saveOutputs` from oneditsave.
   */
  function wireOutputs(node, property) {
    $("#node-input-" + property).on("change", function () {
      $("#node-input-outputs").val(this.checked ? 2 : 1);
    });
    $("#node-input-outputs").val(node[property] === true || node[property] === "true" ? 2 : 1);
  }

  function saveOutputs(node, property) {
    node.outputs = $("#node-input-" + property).is(":checked") ? 2 : 1;
  }

  /**
   * The GraphQL editor of `node.query` in #node-input-query-editor, with #node-input-query-expand opening it
   * full size. Monaco knows GraphQL; the Ace build that ships with Node-RED does not, so it gets plain text.
   */
  function createQueryEditor(node) {
    var monaco = RED.editor.codeEditor.editor && RED.editor.codeEditor.editor.type === "monaco";
    node.queryMode = monaco ? "graphql" : "text";
    node.editor = RED.editor.createEditor({
      id: "node-input-query-editor",
      mode: "ace/mode/" + node.queryMode,
      value: node.query || "",
    });
    $("#node-input-query-expand").on("click", function (event) {
      event.preventDefault();
      RED.editor.editText({
        mode: node.queryMode,
        value: node.editor.getValue(),
        width: "Infinity",
        focus: true,
        complete: function (text) {
          node.editor.setValue(text, -1);
        },
      });
    });
  }

  /** Ends the query editor of createQueryEditor; with `save`, its text becomes `node.query`. */
  function closeQueryEditor(node, save) {
    if (node.editor) {
      if (save) node.query = node.editor.getValue();
      node.editor.destroy();
      delete node.editor;
    }
    delete node.queryMode;
  }

  // Config versions: the runtime's table of steps (nodes/lib/node-versions.ts), asked for once. applySteps does
  // what the runtime's applySteps does (nodes/lib/node-red/migrations.ts): a test holds the two to one result.
  var migrationTable = runtimeDocument("clarus-wms/migrations");

  /** The version a node was saved with: 1 when it has none. */
  function savedVersion(props) {
    var version = Number(props.version);
    return Math.floor(version) === version && version >= 1 ? version : 1;
  }

  /** The properties after every step above `from`, with `version` set to the last step's (a copy). */
  function applySteps(props, steps, from) {
    var out = {};
    Object.keys(props).forEach(function (name) {
      out[name] = props[name];
    });
    (steps || []).forEach(function (step) {
      if (step.to <= from) return;
      Object.keys(step.rename || {}).forEach(function (old) {
        if (!(old in out)) return;
        var renamed = step.rename[old];
        if (out[renamed] === undefined) out[renamed] = out[old];
        delete out[old];
      });
      Object.keys(step.replace || {}).forEach(function (name) {
        var values = step.replace[name];
        var key = String(out[name]);
        if (out[name] !== undefined && Object.prototype.hasOwnProperty.call(values, key))
          out[name] = values[key];
      });
      Object.keys(step.add || {}).forEach(function (name) {
        if (out[name] === undefined) out[name] = JSON.parse(JSON.stringify(step.add[name]));
      });
      (step.remove || []).forEach(function (name) {
        delete out[name];
      });
      out.version = step.to;
    });
    return out;
  }

  /**
   * Called first in a dialog's oneditprepare: upgrades an older node's properties to its type's current version
   * and shows the upgraded values in the dialog's fields (Node-RED filled them from the old ones).
   */
  function migrate(node) {
    function upgrade(table) {
      var type = table[node.type];
      var from = savedVersion(node);
      // A node of a newer package is left as it is (the runtime warns); one without a version gets it.
      if (!type || from > type.current) return;
      var prefix = node._def && node._def.category === "config" ? "#node-config-input-" : "#node-input-";
      var upgraded = applySteps(node, type.steps, from);
      Object.keys(upgraded).forEach(function (name) {
        if (name === "version" || upgraded[name] === node[name]) return;
        node[name] = upgraded[name];
        var field = $(prefix + name);
        if (field.is(":checkbox")) field.prop("checked", Boolean(upgraded[name]));
        else if (field.length) field.val(upgraded[name]);
      });
      Object.keys(node._def ? node._def.defaults || {} : {}).forEach(function (name) {
        if (!(name in upgraded) && node[name] !== undefined) delete node[name];
      });
      node.version = type.current;
    }
    migrationTable.when(upgrade);
  }

  window.ClarusEditor = {
    ADDRESS_LIST: ADDRESS_LIST,
    isAddressList: isAddressList,
    withEvents: withEvents,
    fillEventSelect: fillEventSelect,
    fillEventDatalist: fillEventDatalist,
    eventTypedInput: eventTypedInput,
    splitList: splitList,
    wireOutputs: wireOutputs,
    saveOutputs: saveOutputs,
    createQueryEditor: createQueryEditor,
    closeQueryEditor: closeQueryEditor,
    savedVersion: savedVersion,
    applySteps: applySteps,
    migrate: migrate,
  };

  // Asked for as the editor loads, so the first dialog that lists events, or opens an older node, has them at once.
  vocabularyDocument.load();
  migrationTable.load();
})();
