// The editor's "Clarus" sidebar tab: every deployed connection's health, counters, inbox and dead letters,
// automations and recent deliveries, with the buttons to act on them. nodes/clarus-sidebar.html (a Node-RED
// plugin) loads this file and calls ClarusSidebar.create(). It reads the runtime's admin routes under
// clarus-wms/ and follows the comms topics clarus/connections and clarus/replay/<id>, so it updates without a
// reload. Runs in the editor's browser (jQuery `$` and `RED`); every colour is a theme variable, so dark themes
// work too.
(function () {
  "use strict";

  if (window.ClarusSidebar) return;

  /** The plugin's message catalog (locales/<lang>/clarus-sidebar.json), named by its plugin id. */
  var CATALOG = "@wmsflow/node-red-clarus/clarus-sidebar:clarus-sidebar.";
  var CONNECTIONS_TOPIC = "clarus/connections";
  var REPLAY_TOPIC = "clarus/replay/";
  /** The chart's series, in stacking order, each with its theme colour. */
  var SERIES = [
    { key: "webhook", colour: "var(--red-ui-text-color-success, #3c763d)" },
    { key: "pollOnly", colour: "var(--red-ui-text-color-warning, #a66f00)" },
    { key: "duplicates", colour: "var(--red-ui-secondary-text-color, #777)" },
    { key: "rejected", colour: "var(--red-ui-text-color-error, #c00)" },
  ];

  function t(key, params) {
    return RED._(CATALOG + key, params);
  }

  /** Per connection id: its DOM and what the user chose (open parts, selected dead letters), kept across updates. */
  var sections = {};
  var list;
  var emptyNote;

  function create() {
    var content = $('<div class="clarus-sidebar"></div>');
    var toolbar = $('<div class="red-ui-sidebar-header clarus-sidebar-toolbar"></div>');
    $('<span class="clarus-sidebar-title"></span>').text(t("title")).appendTo(toolbar);
    $('<button type="button" class="red-ui-sidebar-header-button clarus-sidebar-refresh"></button>')
      .attr("title", t("refresh"))
      .append('<i class="fa fa-refresh"></i>')
      .on("click", function (event) {
        event.preventDefault();
        load();
      })
      .appendTo(toolbar);
    toolbar.appendTo(content);
    var scroller = $('<div class="clarus-sidebar-content"></div>').appendTo(content);
    emptyNote = $('<div class="red-ui-search-empty clarus-sidebar-empty"></div>')
      .text(t("empty"))
      .appendTo(scroller);
    list = $('<div class="clarus-sidebar-list"></div>').appendTo(scroller);

    RED.actions.add("clarus:show-clarus-tab", function () {
      RED.sidebar.show("clarus");
    });
    RED.sidebar.addTab({
      id: "clarus",
      label: t("label"),
      name: t("title"),
      iconClass: "fa fa-truck",
      content: content,
      enableOnEdit: true,
      action: "clarus:show-clarus-tab",
      onchange: load,
    });
    RED.comms.subscribe(CONNECTIONS_TOPIC, function (_topic, views) {
      render(views);
    });
    RED.comms.subscribe(REPLAY_TOPIC + "+", function (topic, progress) {
      var section = sections[topic.slice(REPLAY_TOPIC.length)];
      if (section) showProgress(section, progress);
    });
    // A deploy changes the connections and their nodes; the feed's next look would tell, this is sooner.
    RED.events.on("deploy", function () {
      setTimeout(load, 500);
    });
  }

  /** Asks the runtime for the views now (the route also asks each API's token endpoint). */
  function load() {
    $.getJSON("clarus-wms/connections").done(render);
  }

  function render(views) {
    if (!Array.isArray(views)) return;
    emptyNote.toggle(views.length === 0);
    var seen = {};
    views.forEach(function (view, index) {
      seen[view.id] = true;
      var section = sections[view.id] || (sections[view.id] = newSection(view.id));
      // A new section's parent is the fragment jQuery built it in, not the list.
      if (section.root.parent()[0] !== list[0] || section.root.index() !== index) {
        if (index === 0) list.prepend(section.root);
        else
          list
            .children()
            .eq(index - 1)
            .after(section.root);
      }
      update(section, view);
    });
    Object.keys(sections).forEach(function (id) {
      if (seen[id]) return;
      sections[id].root.remove();
      delete sections[id];
    });
  }

  // ---- one connection ------------------------------------------------------------------------------------

  function newSection(id) {
    var root = $('<div class="clarus-connection-section"></div>').attr("data-connection", id);
    var header = $('<div class="red-ui-palette-header clarus-connection-header"></div>').appendTo(root);
    var body = $('<div class="clarus-connection-body"></div>').appendTo(root);
    var section = {
      id: id,
      root: root,
      body: body,
      header: header,
      collapsed: false,
      selected: {},
      deadCount: -1,
      deliveriesSeen: -1,
      open: { events: true, deadLetters: true, recent: false, nodes: false },
      view: null,
    };
    header.on("click", function () {
      section.collapsed = !section.collapsed;
      root.toggleClass("clarus-collapsed", section.collapsed);
    });
    section.health = part(section, "health", true);
    section.events = part(section, "events", true);
    section.inbox = part(section, "inbox", true);
    section.automations = part(section, "automations", true);
    section.nodes = part(section, "nodes", true);
    section.recent = part(section, "recent", false, function (open) {
      if (open) loadRecent(section);
    });
    buildHealth(section);
    buildInbox(section);
    buildRecent(section);
    return section;
  }

  /** A titled part of a section that opens and closes; `onToggle(open)` is told. */
  function part(section, name, open, onToggle) {
    var root = $('<div class="clarus-part"></div>').attr("data-part", name).appendTo(section.body);
    var title = $('<div class="clarus-part-title"></div>').appendTo(root);
    $('<i class="fa fa-angle-down clarus-part-caret"></i>').appendTo(title);
    $("<span></span>")
      .text(t("part." + name))
      .appendTo(title);
    var badge = $('<span class="clarus-part-badge"></span>').appendTo(title);
    var body = $('<div class="clarus-part-body"></div>').appendTo(root);
    root.toggleClass("clarus-closed", !open);
    title.on("click", function () {
      var nowOpen = root.hasClass("clarus-closed");
      root.toggleClass("clarus-closed", !nowOpen);
      if (onToggle) onToggle(nowOpen);
    });
    return {
      root: root,
      body: body,
      badge: badge,
      isOpen: function () {
        return !root.hasClass("clarus-closed");
      },
    };
  }

  function update(section, view) {
    section.view = view;
    var header = section.header.empty();
    $('<i class="fa fa-angle-down clarus-connection-caret"></i>').appendTo(header);
    $('<span class="clarus-dot"></span>')
      .attr("data-ok", view.health.ok ? "true" : "false")
      .attr("title", view.health.ok ? t("health.ok") : t("health.notOk"))
      .appendTo(header);
    $('<span class="clarus-connection-name"></span>')
      .text(view.name || view.id)
      .appendTo(header);
    $('<span class="clarus-connection-sub"></span>')
      .text(view.subdomain || t("noSubdomain"))
      .appendTo(header);
    updateHealth(section, view);
    updateEvents(section, view);
    updateInbox(section, view);
    updateAutomations(section, view);
    updateNodes(section, view);
    var deliveries = view.counters.sinceStart.webhook + view.counters.sinceStart.duplicates;
    if (deliveries !== section.deliveriesSeen) {
      section.deliveriesSeen = deliveries;
      if (section.recent.isOpen()) loadRecent(section);
    }
    // A replay's progress comes from its own comms topic (retained, so an editor that opens gets it too); the
    // view's copy can be seconds older and would move the bar back.
  }

  // ---- health ----------------------------------------------------------------------------------------------

  function buildHealth(section) {
    section.healthTable = table().appendTo(section.health.body);
    var row = $('<div class="clarus-buttons"></div>').appendTo(section.health.body);
    section.testButton = button("fa-plug", t("test.button"), function () {
      testConnection(section);
    })
      .addClass("clarus-test-connection")
      .appendTo(row);
    section.testResult = $('<div class="clarus-test-summary"></div>').appendTo(section.health.body).hide();
  }

  function updateHealth(section, view) {
    var health = view.health;
    var rows = section.healthTable.empty();
    addRow(rows, t("health.store", { store: view.store }), partText(health.store), health.store.ok);
    addRow(rows, t("health.api"), partText(health.api), health.api.ok);
    addRow(rows, t("health.delivery"), view.delivery);
    addRow(rows, t("health.lastWebhook"), ago(view.counters.lastEventAt.webhook));
    addRow(rows, t("health.lastPoll"), ago(view.counters.lastEventAt.poll));
    (health.polls || []).forEach(function (poll) {
      addRow(
        rows,
        t("health.poll"),
        poll.stream +
          ": " +
          (poll.ok ? t("health.ok") : t("health.failingSince", { since: ago(poll.failingSince) })),
        poll.ok,
      );
    });
    section.health.badge.text(health.ok ? "" : t("health.notOk")).attr("data-ok", String(health.ok));
  }

  function partText(part) {
    return part.ok ? part.state : part.state + (part.cause ? ": " + part.cause : "");
  }

  function testConnection(section) {
    var view = section.view;
    var result = section.testResult.empty().show().text(t("test.running"));
    section.testButton.prop("disabled", true);
    // No secret is sent: the runtime uses the deployed connection's, for the API URL it was deployed with.
    postJson("clarus-wms/test-connection", { id: view.id, subdomain: view.subdomain, apiUrl: view.apiUrl })
      .done(function (report) {
        result.empty();
        var summary = (report && report.summary) || {
          ok: report && report.ok,
          headline: report && report.token ? report.token.text : "",
          works: [],
          problems: [],
        };
        $('<div class="clarus-test-headline"></div>')
          .attr("data-ok", summary.ok ? "true" : "false")
          .text(summary.headline)
          .appendTo(result);
        var items = $("<ul></ul>").appendTo(result);
        (summary.works || []).forEach(function (text) {
          $('<li data-ok="true"></li>').text(text).appendTo(items);
        });
        (summary.problems || []).forEach(function (problem) {
          $('<li data-ok="false"></li>')
            .text(problem.problem + " " + problem.todo)
            .appendTo(items);
        });
      })
      .fail(function (xhr) {
        result.text(failure(xhr));
      })
      .always(function () {
        section.testButton.prop("disabled", false);
      });
  }

  // ---- counters and the chart --------------------------------------------------------------------------------

  function updateEvents(section, view) {
    var counters = view.counters;
    var body = section.events.body.empty();
    var totals = $('<table class="clarus-table clarus-counters"></table>').appendTo(body);
    var head = $("<tr></tr>").appendTo(totals);
    $("<th></th>").appendTo(head);
    $("<th></th>").text(t("events.sinceStart")).appendTo(head);
    $("<th></th>").text(t("events.lastHour")).appendTo(head);
    ["webhook", "poll", "pollOnly", "duplicates", "rejected"].forEach(function (key) {
      var row = $("<tr></tr>").attr("data-counter", key).appendTo(totals);
      var label = $("<td></td>").appendTo(row);
      if (colourOf(key) !== "currentColor") {
        $('<span class="clarus-swatch"></span>').css("background", colourOf(key)).appendTo(label);
      }
      $("<span></span>")
        .text(t("events." + key))
        .appendTo(label);
      $('<td class="clarus-number clarus-since-start"></td>').text(counters.sinceStart[key]).appendTo(row);
      $('<td class="clarus-number clarus-last-hour"></td>').text(counters.lastHour[key]).appendTo(row);
    });
    var reasons = Object.keys(counters.sinceStart.rejectedBy || {});
    if (reasons.length > 0) {
      $('<div class="clarus-note clarus-rejected-by"></div>')
        .text(
          t("events.rejectedBy") +
            " " +
            reasons
              .map(function (reason) {
                return reason + " " + counters.sinceStart.rejectedBy[reason];
              })
              .join(", "),
        )
        .appendTo(body);
    }
    chart(counters.perMinute || []).appendTo(body);
    if ((counters.byEvent || []).length > 0) {
      var byEvent = $('<table class="clarus-table clarus-by-event"></table>').appendTo(body);
      var top = $("<tr></tr>").appendTo(byEvent);
      ["event", "webhook", "pollOnly", "duplicates"].forEach(function (key) {
        $("<th></th>")
          .text(t("events." + key + "Short"))
          .appendTo(top);
      });
      counters.byEvent.forEach(function (figures) {
        var row = $("<tr></tr>").attr("data-event", figures.event).appendTo(byEvent);
        $('<td class="clarus-event-name"></td>').text(figures.event).appendTo(row);
        [figures.webhook, figures.pollOnly, figures.duplicates].forEach(function (n) {
          $('<td class="clarus-number"></td>').text(n).appendTo(row);
        });
      });
    }
  }

  function colourOf(key) {
    for (var i = 0; i < SERIES.length; i++) if (SERIES[i].key === key) return SERIES[i].colour;
    return "currentColor";
  }

  /** The last hour per minute as stacked bars (an SVG that scales to the sidebar's width). */
  function chart(minutes) {
    var ns = "http://www.w3.org/2000/svg";
    var width = 240;
    var height = 60;
    var most = 1;
    minutes.forEach(function (minute) {
      var sum = 0;
      SERIES.forEach(function (s) {
        sum += minute[s.key] || 0;
      });
      most = Math.max(most, sum);
    });
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (height + 12));
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "clarus-chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("events.chart"));
    var slot = width / Math.max(minutes.length, 1);
    minutes.forEach(function (minute, index) {
      var y = height;
      SERIES.forEach(function (s) {
        var n = minute[s.key] || 0;
        if (n === 0) return;
        var h = (n / most) * height;
        y -= h;
        var bar = document.createElementNS(ns, "rect");
        bar.setAttribute("x", String(index * slot + 0.5));
        bar.setAttribute("y", String(y));
        bar.setAttribute("width", String(Math.max(slot - 1, 0.5)));
        bar.setAttribute("height", String(h));
        bar.setAttribute("style", "fill: " + s.colour);
        bar.setAttribute("data-series", s.key);
        var tip = document.createElementNS(ns, "title");
        tip.textContent = new Date(minute.at).toLocaleTimeString() + " " + t("events." + s.key) + ": " + n;
        bar.appendChild(tip);
        svg.appendChild(bar);
      });
    });
    var axis = document.createElementNS(ns, "line");
    axis.setAttribute("x1", "0");
    axis.setAttribute("x2", String(width));
    axis.setAttribute("y1", String(height + 0.5));
    axis.setAttribute("y2", String(height + 0.5));
    axis.setAttribute("class", "clarus-chart-axis");
    svg.appendChild(axis);
    var box = $('<div class="clarus-chart-box"></div>').append(svg);
    var scale = $('<div class="clarus-chart-scale"></div>').appendTo(box);
    $("<span></span>").text(t("events.hourAgo")).appendTo(scale);
    $("<span></span>")
      .text(t("events.peak", { n: most }))
      .appendTo(scale);
    $("<span></span>").text(t("events.now")).appendTo(scale);
    return box;
  }

  // ---- inbox and dead letters ------------------------------------------------------------------------------

  function buildInbox(section) {
    var body = section.inbox.body;
    section.inboxTable = table().appendTo(body);
    var dead = $('<div class="clarus-dead-letters"></div>').appendTo(body);
    section.deadList = $('<div class="clarus-dead-list"></div>').appendTo(dead);
    var controls = $('<div class="clarus-dead-controls"></div>').appendTo(dead);
    var filterRow = $('<div class="clarus-field"></div>').appendTo(controls);
    $("<label></label>").text(t("dead.event")).appendTo(filterRow);
    section.eventFilter = $('<select class="clarus-dead-event"></select>').appendTo(filterRow);
    section.eventFilter.on("change", function () {
      renderDeadLetters(section);
    });
    var viaRow = $('<div class="clarus-field"></div>').appendTo(controls);
    $("<label></label>").text(t("dead.via")).appendTo(viaRow);
    section.via = $('<select class="clarus-dead-via"></select>').appendTo(viaRow);
    var buttons = $('<div class="clarus-buttons"></div>').appendTo(controls);
    section.replaySelected = button("fa-repeat", t("dead.replaySelected"), function () {
      act(section, "replay", selectedKeys(section));
    })
      .addClass("clarus-replay-selected")
      .appendTo(buttons);
    section.replayAll = button("fa-repeat", t("dead.replayAll"), function () {
      act(section, "replay", null);
    })
      .addClass("clarus-replay-all")
      .appendTo(buttons);
    section.discardSelected = button("fa-trash", t("dead.discardSelected"), function () {
      act(section, "discard", selectedKeys(section));
    })
      .addClass("clarus-discard-selected")
      .appendTo(buttons);
    section.discardAll = button("fa-trash", t("dead.discardAll"), function () {
      act(section, "discard", null);
    })
      .addClass("clarus-discard-all")
      .appendTo(buttons);
    var progress = $('<div class="clarus-replay-progress"></div>').appendTo(body).hide();
    var bar = $('<div class="clarus-progress-bar"></div>').appendTo(progress);
    section.progressFill = $('<div class="clarus-progress-fill"></div>').appendTo(bar);
    section.progressText = $('<span class="clarus-progress-text"></span>').appendTo(progress);
    section.cancelButton = button("fa-stop", t("dead.cancel"), function () {
      postJson(
        "clarus-wms/connections/" + encodeURIComponent(section.id) + "/dead-letters/replay/cancel",
        {},
      );
    })
      .addClass("clarus-replay-cancel")
      .appendTo(progress);
    section.progress = progress;
    section.deadLetters = [];
  }

  function updateInbox(section, view) {
    var rows = section.inboxTable.empty();
    var inbox = view.inbox;
    section.inbox.root.toggle(view.delivery === "on-confirm" || (inbox !== null && inbox.dead > 0));
    if (!inbox) {
      addRow(rows, t("inbox.state"), t("inbox.unknown"), false);
      section.inbox.badge.text("");
      return;
    }
    addRow(rows, t("inbox.pending"), String(inbox.pending));
    addRow(
      rows,
      t("inbox.oldest"),
      inbox.oldestPendingSeconds === null ? "—" : duration(inbox.oldestPendingSeconds),
    );
    addRow(rows, t("inbox.dead"), String(inbox.dead), inbox.dead === 0);
    section.inbox.badge.text(inbox.dead > 0 ? t("inbox.deadBadge", { n: inbox.dead }) : "");
    var via = section.via;
    var chosen = via.val();
    via.empty();
    $('<option value=""></option>').text(t("dead.viaOwn")).appendTo(via);
    view.nodes
      .filter(function (node) {
        return node.type === "clarus-webhook-in";
      })
      .forEach(function (node) {
        $("<option></option>").attr("value", node.id).text(nodeLabel(node)).appendTo(via);
      });
    via.val(via.find('option[value="' + chosen + '"]').length ? chosen : "");
    if (inbox.dead !== section.deadCount) {
      section.deadCount = inbox.dead;
      loadDeadLetters(section);
    }
  }

  function loadDeadLetters(section) {
    if (section.deadCount === 0) {
      section.deadLetters = [];
      renderDeadLetters(section);
      return;
    }
    $.getJSON("clarus-wms/connections/" + encodeURIComponent(section.id) + "/dead-letters?limit=200").done(
      function (answer) {
        section.deadLetters = (answer && answer.deadLetters) || [];
        renderDeadLetters(section);
      },
    );
  }

  function renderDeadLetters(section) {
    var letters = section.deadLetters;
    var filter = section.eventFilter;
    var chosen = filter.val() || "";
    var events = {};
    letters.forEach(function (letter) {
      events[letter.event] = true;
    });
    filter.empty();
    $('<option value=""></option>').text(t("dead.allEvents")).appendTo(filter);
    Object.keys(events)
      .sort()
      .forEach(function (event) {
        $("<option></option>").attr("value", event).text(event).appendTo(filter);
      });
    filter.val(events[chosen] ? chosen : "");
    chosen = filter.val() || "";
    var known = {};
    var box = section.deadList.empty();
    letters
      .filter(function (letter) {
        return !chosen || letter.event === chosen;
      })
      .forEach(function (letter) {
        known[letter.key] = true;
        var item = $('<label class="clarus-dead-letter"></label>').attr("data-key", letter.key).appendTo(box);
        $('<input type="checkbox">')
          .prop("checked", section.selected[letter.key] === true)
          .on("change", function () {
            if (this.checked) section.selected[letter.key] = true;
            else delete section.selected[letter.key];
            enableDeadButtons(section);
          })
          .appendTo(item);
        var text = $('<span class="clarus-dead-text"></span>').appendTo(item);
        $('<span class="clarus-event-name"></span>').text(letter.event).appendTo(text);
        $('<span class="clarus-dead-key"></span>').text(letter.key).appendTo(text);
        $('<span class="clarus-note"></span>')
          .text(
            t("dead.detail", { attempts: letter.attempts, when: ago(letter.admittedAt) }) +
              (nodeExists(section, letter.sourceNodeId) ? "" : " " + t("dead.nodeGone")),
          )
          .appendTo(text);
        if (letter.lastError)
          $('<span class="clarus-dead-error"></span>').text(letter.lastError).appendTo(text);
      });
    Object.keys(section.selected).forEach(function (key) {
      if (!known[key]) delete section.selected[key];
    });
    section.deadList.closest(".clarus-dead-letters").toggle(letters.length > 0);
    enableDeadButtons(section);
  }

  function nodeExists(section, id) {
    return (section.view ? section.view.nodes : []).some(function (node) {
      return node.id === id;
    });
  }

  function selectedKeys(section) {
    return Object.keys(section.selected);
  }

  function enableDeadButtons(section) {
    var none = selectedKeys(section).length === 0;
    var running = section.running === true;
    section.replaySelected.prop("disabled", none || running);
    section.discardSelected.prop("disabled", none || running);
    section.replayAll.prop("disabled", section.deadLetters.length === 0 || running);
    section.discardAll.prop("disabled", section.deadLetters.length === 0 || running);
  }

  /** Replay or discard: `keys` (the selected), or with null every dead letter of the event filter (or all). */
  function act(section, action, keys) {
    var body = {};
    var event = section.eventFilter.val();
    var count;
    if (keys) {
      body.keys = keys;
      count = keys.length;
    } else {
      if (event) body.event = event;
      count = section.deadLetters.filter(function (letter) {
        return !event || letter.event === event;
      }).length;
    }
    if (action === "replay" && section.via.val()) body.via = section.via.val();
    var question = t(action === "replay" ? "dead.confirmReplay" : "dead.confirmDiscard", {
      n: keys ? count : section.deadCount,
      event: event || t("dead.allEvents"),
    });
    if (!keys && !event)
      question = t(action === "replay" ? "dead.confirmReplayAll" : "dead.confirmDiscardAll");
    var notification = RED.notify($("<p></p>").text(question), {
      modal: true,
      fixed: true,
      type: "warning",
      buttons: [
        {
          text: t("dead.no"),
          click: function () {
            notification.close();
          },
        },
        {
          text: t(action === "replay" ? "dead.replay" : "dead.discard"),
          class: "primary clarus-confirm-action",
          click: function () {
            notification.close();
            run(section, action, body);
          },
        },
      ],
    });
  }

  function run(section, action, body) {
    var url = "clarus-wms/connections/" + encodeURIComponent(section.id) + "/dead-letters/" + action;
    if (action === "replay") {
      section.running = true;
      showProgress(section, { running: true, total: 0, replayed: 0, skipped: 0, cancelled: false });
    }
    postJson(url, body)
      .done(function (answer) {
        section.selected = {};
        var text =
          action === "replay"
            ? t("dead.replayed", { n: answer.replayed, skipped: (answer.skipped || []).length })
            : t("dead.discarded", { n: answer.discarded });
        RED.notify(text, { type: "success", timeout: 4000 });
        (answer.skipped || []).forEach(function (skipped) {
          RED.notify(skipped.key + ": " + skipped.reason, { type: "warning", timeout: 6000 });
        });
      })
      .fail(function (xhr) {
        RED.notify(failure(xhr), { type: "error", timeout: 8000 });
      })
      .always(function () {
        if (action === "replay") section.running = false;
        loadDeadLetters(section);
        enableDeadButtons(section);
      });
  }

  function showProgress(section, progress) {
    var shown = progress.running || section.running;
    section.progress.toggle(Boolean(shown) || progress.total > 0);
    var done = progress.replayed + progress.skipped;
    var share = progress.total > 0 ? (100 * done) / progress.total : 0;
    section.progressFill.css("width", share + "%");
    section.progressText.text(
      progress.running
        ? t("dead.progress", { done: done, total: progress.total })
        : t(progress.cancelled ? "dead.progressCancelled" : "dead.progressDone", {
            replayed: progress.replayed,
            skipped: progress.skipped,
          }),
    );
    section.progress.attr("data-running", progress.running ? "true" : "false");
    section.cancelButton.toggle(Boolean(progress.running));
    // The list is read again when the replay's request answers (run) or the dead count changes (updateInbox).
    enableDeadButtons(section);
  }

  // ---- automations and nodes -------------------------------------------------------------------------------

  function updateAutomations(section, view) {
    var body = section.automations.body.empty();
    section.automations.root.toggle(view.automations.length > 0);
    var rows = table().appendTo(body);
    view.automations.forEach(function (automation) {
      addRow(rows, automation.event, t("automation." + automation.state), automation.state === "ok").attr(
        "data-state",
        automation.state,
      );
    });
  }

  function updateNodes(section, view) {
    var body = section.nodes.body;
    var kept = {};
    body.children(".clarus-node").each(function () {
      kept[$(this).attr("data-node")] = $(this);
    });
    body.children().detach();
    view.nodes.forEach(function (node) {
      var row = kept[node.id];
      if (!row) {
        row = $('<div class="clarus-node"></div>').attr("data-node", node.id);
        var line = $('<div class="clarus-node-line"></div>').appendTo(row);
        $('<a href="#" class="clarus-node-name"></a>')
          .on("click", function (event) {
            event.preventDefault();
            RED.view.reveal(node.id);
          })
          .appendTo(line);
        if (node.type === "clarus-webhook-in") {
          button("fa-cloud-upload", t("nodes.register"), function () {
            registerNow(row, node.id);
          })
            .addClass("clarus-register-now")
            .appendTo(line);
        } else if (node.type === "clarus-poll") {
          button("fa-download", t("nodes.poll"), function () {
            pollNow(row, node.id);
          })
            .addClass("clarus-poll-now")
            .appendTo(line);
        }
        $('<div class="clarus-note clarus-node-result"></div>').appendTo(row);
      }
      row.find(".clarus-node-name").text(nodeLabel(node));
      row.appendTo(body);
    });
    section.nodes.badge.text(String(view.nodes.length));
  }

  function nodeLabel(node) {
    var editorNode = RED.nodes.node(node.id);
    var label = node.name || (editorNode ? RED.utils.getNodeLabel(editorNode, node.type) : node.type);
    return label;
  }

  function pollNow(row, id) {
    var result = row.find(".clarus-node-result").text(t("nodes.polling"));
    postJson("clarus-wms/nodes/" + encodeURIComponent(id) + "/poll", {})
      .done(function () {
        result.text(t("nodes.polled"));
      })
      .fail(function (xhr) {
        result.text(failure(xhr));
      });
  }

  /** The dialog's Register now, with the node as the editor has it and the deployed connection's secrets. */
  function registerNow(row, id) {
    var result = row.find(".clarus-node-result").text(t("nodes.registering"));
    var node = RED.nodes.node(id);
    var connection = node && node.connection ? RED.nodes.node(node.connection) : null;
    if (!node || !connection) {
      result.text(t("nodes.notInEditor"));
      return;
    }
    postJson("clarus-wms/register", {
      node: {
        id: node.id,
        connection: connection.id,
        path: node.path,
        method: node.method,
        requireToken: node.requireToken,
        register: node.register || [],
      },
      connection: {
        publicUrl: connection.publicUrl || "",
        subdomain: connection.subdomain,
        apiUrl: connection.apiUrl,
        credentials: {},
      },
    })
      .done(function (answer) {
        if (answer.error) return result.text(answer.error);
        var counts = {};
        (answer.items || []).forEach(function (item) {
          counts[item.outcome] = (counts[item.outcome] || 0) + 1;
        });
        var parts = Object.keys(counts).map(function (outcome) {
          return t("nodes.outcome", { n: counts[outcome], outcome: outcome });
        });
        result.text(parts.length ? parts.join(", ") : t("nodes.nothingToRegister"));
        result.attr("data-outcomes", Object.keys(counts).sort().join(" "));
      })
      .fail(function (xhr) {
        result.text(failure(xhr));
      });
  }

  // ---- recent deliveries -----------------------------------------------------------------------------------

  function buildRecent(section) {
    section.recentList = $('<div class="clarus-recent-list"></div>').appendTo(section.recent.body);
    section.recentOpen = {};
  }

  function loadRecent(section) {
    $.getJSON("clarus-wms/connections/" + encodeURIComponent(section.id) + "/recent").done(
      function (deliveries) {
        renderRecent(section, Array.isArray(deliveries) ? deliveries : []);
      },
    );
  }

  function renderRecent(section, deliveries) {
    var box = section.recentList.empty();
    section.recent.badge.text(String(deliveries.length));
    if (deliveries.length === 0) {
      $('<div class="clarus-note"></div>').text(t("recent.none")).appendTo(box);
      return;
    }
    deliveries.forEach(function (delivery) {
      var item = $('<div class="clarus-recent"></div>').attr("data-delivery", delivery.id).appendTo(box);
      var line = $('<div class="clarus-recent-line"></div>').appendTo(item);
      $('<i class="fa fa-angle-right clarus-recent-caret"></i>').appendTo(line);
      $('<span class="clarus-event-name"></span>').text(delivery.event).appendTo(line);
      $('<span class="clarus-note"></span>')
        .text(
          new Date(delivery.receivedAt).toLocaleTimeString() +
            (delivery.duplicate ? " · " + t("recent.duplicate") : ""),
        )
        .appendTo(line);
      var detail = $('<div class="clarus-recent-detail"></div>').appendTo(item);
      var shown = { headers: delivery.headers, payload: delivery.payload };
      $('<pre class="clarus-json"></pre>')
        .text(JSON.stringify(shown, null, 2))
        .appendTo(detail);
      var buttons = $('<div class="clarus-buttons"></div>').appendTo(detail);
      button("fa-clipboard", t("recent.copy"), function () {
        RED.clipboard.copyText(JSON.stringify(shown, null, 2), null, t("recent.copied"));
      })
        .addClass("clarus-recent-copy")
        .appendTo(buttons);
      button("fa-repeat", t("recent.send"), function () {
        postJson(
          "clarus-wms/connections/" +
            encodeURIComponent(section.id) +
            "/recent/" +
            encodeURIComponent(delivery.id) +
            "/send",
          {},
        )
          .done(function () {
            RED.notify(t("recent.sent", { event: delivery.event }), { type: "success", timeout: 3000 });
          })
          .fail(function (xhr) {
            RED.notify(failure(xhr), { type: "error", timeout: 6000 });
          });
      })
        .addClass("clarus-recent-send")
        .appendTo(buttons);
      button("fa-sign-in", t("recent.inject"), function () {
        addInjectNode(delivery);
      })
        .addClass("clarus-recent-inject")
        .appendTo(buttons);
      var open = section.recentOpen[delivery.id] === true;
      item.toggleClass("clarus-open", open);
      line.on("click", function () {
        open = !open;
        section.recentOpen[delivery.id] = open;
        item.toggleClass("clarus-open", open);
      });
    });
  }

  /**
   * An inject node on the open flow that sends this delivery as a test message: the payload as Clarus sent it
   * (token taken out), the event as topic and msg.clarus, marked `test`, so the filters route it.
   */
  function addInjectNode(delivery) {
    var clarus = { event: delivery.event, source: "webhook", test: true };
    if (delivery.automationId) clarus.automationId = delivery.automationId;
    var node = {
      id: RED.nodes.id(),
      type: "inject",
      z: RED.workspaces.active(),
      name: t("recent.injectName", { event: delivery.event }),
      props: [
        { p: "payload", v: JSON.stringify(delivery.payload), vt: "json" },
        { p: "topic", v: delivery.event, vt: "str" },
        { p: "clarus", v: JSON.stringify(clarus), vt: "json" },
      ],
      repeat: "",
      crontab: "",
      once: false,
      onceDelay: 0.1,
      topic: delivery.event,
      x: 160,
      y: 60,
      wires: [[]],
    };
    RED.view.importNodes([node], { generateIds: false, addFlow: false, touchImport: true });
    RED.notify(t("recent.injected"), { type: "success", timeout: 4000 });
  }

  // ---- small helpers ---------------------------------------------------------------------------------------

  function table() {
    return $('<table class="clarus-table"></table>');
  }

  /** A label/value row; `ok` false marks the value as a problem, true as fine, undefined as neither. */
  function addRow(rows, label, value, ok) {
    var row = $("<tr></tr>").appendTo(rows);
    $('<td class="clarus-label"></td>').text(label).appendTo(row);
    var cell = $('<td class="clarus-value"></td>')
      .text(value === undefined || value === null ? "—" : value)
      .appendTo(row);
    if (ok !== undefined) cell.attr("data-ok", ok ? "true" : "false");
    return row;
  }

  function button(icon, text, onClick) {
    return $('<button type="button" class="red-ui-button red-ui-button-small"></button>')
      .append($('<i class="fa"></i>').addClass(icon))
      .append($("<span></span>").text(" " + text))
      .on("click", function (event) {
        event.preventDefault();
        event.stopPropagation();
        onClick();
      });
  }

  function postJson(url, body) {
    return $.ajax({
      url: url,
      type: "POST",
      contentType: "application/json",
      data: JSON.stringify(body),
      dataType: "json",
    });
  }

  function failure(xhr) {
    var answer = xhr.responseJSON;
    return answer && answer.error ? answer.error : xhr.status + " " + (xhr.statusText || "");
  }

  /** "12 s ago", "5 min ago", "3 h ago" for an ISO time; "never" for none. */
  function ago(iso) {
    if (!iso) return t("never");
    var seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    return t("ago", { time: duration(seconds) });
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " d";
  }

  window.ClarusSidebar = { create: create };
})();
