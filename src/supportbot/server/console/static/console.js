/* supportbot agent console. Plain JS; every piece of ticket or customer text goes into the
 * page with textContent, never as HTML. The token lives in sessionStorage and travels only in
 * the Authorization header (the live stream is read with fetch for that reason). */
(function () {
  "use strict";
  var KEY = "supportbot.agentToken";
  var token = sessionStorage.getItem(KEY) || "";
  var $ = function (id) { return document.getElementById(id); };
  var selected = null;      // ticket id shown on the right
  var view = null;          // last queue view from the server
  var clockSkew = 0;        // server time - browser time, seconds
  var streamAbort = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function now() { return Date.now() / 1000 + clockSkew; }
  function ago(seconds) {
    if (seconds == null) return "-";
    var s = Math.max(0, Math.round(seconds));
    if (s < 90) return s + "s";
    if (s < 5400) return Math.round(s / 60) + "m";
    return (s / 3600).toFixed(1) + "h";
  }
  function slaText(t) {
    if (t.sla_due_at == null) return "no SLA";
    var left = t.sla_due_at - now();
    return left >= 0 ? "SLA " + ago(left) + " left" : "SLA breached " + ago(-left) + " ago";
  }

  function api(method, path, body) {
    var opts = {method: method, headers: {"Authorization": "Bearer " + token}};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch("/agent/api" + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401) { signOut("Your token was not accepted."); }
        if (!r.ok) throw new Error(data.message || ("HTTP " + r.status));
        return data;
      });
    });
  }

  function showError(err) {
    var p = $("t-error");
    p.hidden = !err;
    p.textContent = err ? String(err.message || err) : "";
  }

  // ---------------------------------------------------------------- sign in / out
  function signOut(message) {
    token = ""; sessionStorage.removeItem(KEY);
    if (streamAbort) streamAbort.abort();
    $("console").hidden = true; $("signin").hidden = false;
    var p = $("signin-error"); p.hidden = !message; p.textContent = message || "";
  }
  function signIn() {
    return api("GET", "/me").then(function (me) {
      sessionStorage.setItem(KEY, token);
      $("signin").hidden = true; $("console").hidden = false;
      $("me").textContent = me.name + " (" + me.id + ")";
      refresh(); stream();
    });
  }
  $("signin-form").addEventListener("submit", function (e) {
    e.preventDefault();
    token = $("token").value.trim();
    signIn().catch(function (err) { signOut(err.message); });
  });
  $("signout").addEventListener("click", function () { signOut(""); });

  // ---------------------------------------------------------------- the queue
  function ticketItem(t, mine) {
    var li = el("li");
    li.setAttribute("data-ticket", t.id);
    if (t.id === selected) li.className = "selected";
    var line = el("div", "line");
    line.appendChild(el("strong", null, t.id));
    line.appendChild(el("span", "badge", t.queue));
    line.appendChild(el("span", "badge prio", "P" + t.priority));
    line.appendChild(el("span", "badge lang", t.language || "?"));
    line.appendChild(el("span", "waited", mine ? "mine" : "waiting " + ago(now() - t.created_at)));
    if (!mine) line.appendChild(el("span", "badge sla" + (t.sla_breached ? " breach" : ""), slaText(t)));
    li.appendChild(line);
    var reasons = (t.reasons || []).map(function (r) { return r.code; }).join(", ");
    if (reasons) li.appendChild(el("div", "line reasons-line", reasons));
    if (t.last_message) li.appendChild(el("div", "last", t.last_message));
    li.addEventListener("click", function () { select(t.id); });
    return li;
  }
  function render() {
    if (!view) return;
    var w = $("waiting"), a = $("assigned");
    clear(w); clear(a);
    view.waiting.forEach(function (t) { w.appendChild(ticketItem(t, false)); });
    view.assigned.forEach(function (t) { a.appendChild(ticketItem(t, true)); });
    $("waiting-count").textContent = "(" + view.waiting.length + ")";
    $("others").textContent = view.waiting_for_others
      ? view.waiting_for_others + " more waiting for other skills or languages" : "";
    $("limit").hidden = !view.at_limit;
    $("limit").textContent = "You hold " + view.agent.held + " of " + view.agent.max_concurrent +
      " conversations: resolve one to take more.";
    $("claim-next").disabled = view.at_limit || !view.waiting.length;
  }
  function setView(v) {
    clockSkew = v.at - Date.now() / 1000;
    var before = view;
    view = v; render();
    if (selected) {
      var inList = v.waiting.concat(v.assigned).some(function (t) { return t.id === selected; });
      var key = JSON.stringify((v.waiting.concat(v.assigned)).filter(function (t) { return t.id === selected; }));
      var oldKey = before ? JSON.stringify((before.waiting.concat(before.assigned)).filter(function (t) { return t.id === selected; })) : "";
      if (!inList) { showTicket(null); }
      else if (key !== oldKey) { loadTicket(selected); }
    }
  }
  function refresh() { return api("GET", "/tickets").then(setView).catch(showError); }
  setInterval(render, 1000);  // waiting times and SLA clocks tick

  // ---------------------------------------------------------------- live stream (SSE over fetch)
  function stream() {
    if (streamAbort) streamAbort.abort();
    var ctrl = new AbortController(); streamAbort = ctrl;
    var live = $("live");
    fetch("/agent/api/stream", {headers: {"Authorization": "Bearer " + token}, signal: ctrl.signal})
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        live.textContent = "live"; live.className = "live on";
        var reader = r.body.getReader(), decoder = new TextDecoder(), buf = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) throw new Error("stream ended");
            buf += decoder.decode(chunk.value, {stream: true});
            var parts = buf.split("\n\n"); buf = parts.pop();
            parts.forEach(function (block) {
              var event = "message", data = "";
              block.split("\n").forEach(function (line) {
                if (line.indexOf("event:") === 0) event = line.slice(6).trim();
                else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
              });
              if (event === "queue" && data) setView(JSON.parse(data));
            });
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {
        if (ctrl.signal.aborted || !token) return;
        live.textContent = "reconnecting"; live.className = "live";
        setTimeout(function () { if (streamAbort === ctrl) stream(); }, 1000);
      });
  }

  // ---------------------------------------------------------------- one ticket
  function select(id) { selected = id; render(); loadTicket(id); }
  function loadTicket(id) {
    return api("GET", "/tickets/" + encodeURIComponent(id)).then(function (t) {
      if (selected === id) showTicket(t);
    }).catch(showError);
  }
  function showTicket(t) {
    $("placeholder").hidden = !!t; $("detail").hidden = !t;
    if (!t) { selected = null; return; }
    showError(null);
    $("t-title").textContent = "Ticket " + t.id + " — " + t.status;
    var meta = $("t-meta"); clear(meta);
    [["queue", t.queue], ["priority", t.priority], ["language", t.language || "?"],
     ["channel", t.channel], ["conversation", t.conversation_id],
     ["waited", ago(t.waited_seconds)], ["", slaText(t)]].forEach(function (pair) {
      meta.appendChild(el("span", null, pair[0] ? pair[0] + ": " + pair[1] : pair[1]));
    });
    var reasons = $("t-reasons"); clear(reasons);
    (t.reasons || []).forEach(function (r) {
      var row = el("div", "reason");
      row.appendChild(el("span", "badge", r.code));
      row.appendChild(el("span", null, " " + (r.explanation || "")));
      reasons.appendChild(row);
    });
    $("t-summary").textContent = t.summary_text;
    var tr = $("t-transcript"); clear(tr);
    t.transcript.forEach(function (m) {
      var box = el("div", "tmsg " + m.role);
      box.appendChild(el("div", "who", (m.agent_id ? m.role + " " + m.agent_id : m.role) + " · " +
        new Date(m.timestamp * 1000).toLocaleTimeString()));
      box.appendChild(el("div", "text", m.text));
      tr.appendChild(box);
    });
    var mine = t.status === "assigned" && view && t.agent_id === view.agent.id;
    $("t-actions-mine").hidden = !mine;
    $("t-actions-waiting").hidden = t.status !== "waiting";
  }

  function act(promise) {
    return promise.then(function (r) { showError(null); refresh(); return r; }).catch(showError);
  }
  $("claim-next").addEventListener("click", function () {
    act(api("POST", "/claim")).then(function (r) {
      if (r && r.ticket) { selected = r.ticket.id; showTicket(r.ticket); render(); }
    });
  });
  $("t-claim").addEventListener("click", function () {
    act(api("POST", "/tickets/" + encodeURIComponent(selected) + "/claim")).then(function (r) {
      if (r && r.ticket) showTicket(r.ticket);
    });
  });
  $("reply-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("reply").value.trim();
    if (!text) return;
    var id = selected;
    act(api("POST", "/tickets/" + encodeURIComponent(id) + "/messages", {text: text})).then(function (r) {
      if (r) { $("reply").value = ""; loadTicket(id); }
    });
  });
  $("reply").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("reply-form").requestSubmit(); }
  });
  function close(kind) {
    var id = selected;
    act(api("POST", "/tickets/" + encodeURIComponent(id) + "/" + kind)).then(function (r) {
      if (r) showTicket(null);
    });
  }
  $("t-resolve").addEventListener("click", function () { close("resolve"); });
  $("t-return").addEventListener("click", function () { close("return"); });
  $("transfer-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var body = {queue: $("transfer-queue").value.trim() || null,
                agent: $("transfer-agent").value.trim() || null};
    act(api("POST", "/tickets/" + encodeURIComponent(selected) + "/transfer", body)).then(function (r) {
      if (r) showTicket(null);
    });
  });

  if (token) signIn().catch(function (err) { signOut(err.message); });
})();
