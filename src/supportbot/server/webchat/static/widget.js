/* supportbot web chat widget. Embed with one tag:
 *   <script src="https://your-bot.example.com/chat/widget.js" defer></script>
 * Optional attributes: data-lang="ru" (the widget's own strings), data-mode="page" (full page).
 * Every piece of text goes into the page with textContent: never as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  var src = new URL(script ? script.src : "/chat/widget.js", location.href);
  var BASE = src.origin + src.pathname.replace(/\/chat\/widget\.js$/, "");
  var MODE = (script && script.getAttribute("data-mode")) || "bubble";
  var FIXED_LANG = script && script.getAttribute("data-lang");
  var STORE_KEY = "supportbot.conversation";

  var STRINGS = {
    en: {title: "Support", placeholder: "Type your message…", send: "Send", open: "Chat with us",
         close: "Close", queued: "Connecting you to a person — you are number {n}, about {m} min",
         queuedUnknown: "Connecting you to a person — you are number {n} in line",
         assigned: "You are talking to {agent}", reconnecting: "Reconnecting…",
         notSent: "Not sent — tap to retry", you: "You", bot: "Bot"},
    ru: {title: "Поддержка", placeholder: "Напишите сообщение…", send: "Отправить",
         open: "Чат с поддержкой", close: "Закрыть",
         queued: "Соединяем с оператором — вы {n}-й в очереди, примерно {m} мин",
         queuedUnknown: "Соединяем с оператором — вы {n}-й в очереди",
         assigned: "С вами {agent}", reconnecting: "Восстанавливаем связь…",
         notSent: "Не отправлено — нажмите, чтобы повторить", you: "Вы", bot: "Бот"},
    hy: {title: "Աջակցություն", placeholder: "Գրեք հաղորդագրություն…", send: "Ուղարկել",
         open: "Գրեք մեզ", close: "Փակել",
         queued: "Միացնում ենք օպերատորի հետ — դուք {n}-րդն եք հերթում, մոտ {m} րոպե",
         queuedUnknown: "Միացնում ենք օպերատորի հետ — դուք {n}-րդն եք հերթում",
         assigned: "Ձեզ պատասխանում է {agent}", reconnecting: "Կապը վերականգնվում է…",
         notSent: "Չուղարկվեց — սեղմեք՝ կրկնելու համար", you: "Դուք", bot: "Բոտ"},
    ky: {title: "Колдоо", placeholder: "Билдирүү жазыңыз…", send: "Жөнөтүү",
         open: "Биз менен баарлашыңыз", close: "Жабуу",
         queued: "Оператор менен туташтырып жатабыз — кезекте {n}-сиз, болжол менен {m} мүнөт",
         queuedUnknown: "Оператор менен туташтырып жатабыз — кезекте {n}-сиз",
         assigned: "Сиз менен {agent} сүйлөшүп жатат", reconnecting: "Байланыш калыбына келүүдө…",
         notSent: "Жөнөтүлгөн жок — кайталоо үчүн басыңыз", you: "Сиз", bot: "Бот"}
  };

  function pickLang(code) {
    code = String(code || "").toLowerCase().slice(0, 2);
    return STRINGS[code] ? code : null;
  }
  var lang = pickLang(FIXED_LANG) || pickLang(navigator.language) || "en";
  function t(key, values) {
    var s = (STRINGS[lang] || STRINGS.en)[key] || STRINGS.en[key] || key;
    Object.keys(values || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(values[k])); });
    return s;
  }

  function newId() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var cid;
  try {
    cid = localStorage.getItem(STORE_KEY);
    if (!cid || !/^[A-Za-z0-9_-]{16,128}$/.test(cid)) { cid = newId(); localStorage.setItem(STORE_KEY, cid); }
  } catch (e) { cid = newId(); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  // ---------------------------------------------------------------- the DOM
  var css = el("link"); css.rel = "stylesheet"; css.href = BASE + "/chat/widget.css";
  document.head.appendChild(css);
  var root = el("div", "sb-root sb-" + MODE);
  root.setAttribute("data-conversation", cid);
  var launcher = el("button", "sb-launcher");
  launcher.type = "button";
  var panel = el("section", "sb-panel");
  panel.setAttribute("role", "dialog");
  var header = el("header", "sb-header");
  var title = el("span", "sb-title");
  var closeBtn = el("button", "sb-close", "×");
  closeBtn.type = "button";
  header.appendChild(title); header.appendChild(closeBtn);
  var status = el("div", "sb-status"); status.hidden = true; status.setAttribute("role", "status");
  var conn = el("div", "sb-conn"); conn.hidden = true;
  var log = el("div", "sb-log"); log.setAttribute("aria-live", "polite");
  var form = el("form", "sb-form");
  var input = el("textarea", "sb-input"); input.rows = 1; input.maxLength = 5000;
  var send = el("button", "sb-send"); send.type = "submit";
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(header); panel.appendChild(status); panel.appendChild(conn);
  panel.appendChild(log); panel.appendChild(form);
  root.appendChild(launcher); root.appendChild(panel);

  function applyStrings() {
    root.setAttribute("lang", lang);
    title.textContent = t("title"); launcher.textContent = t("open");
    launcher.setAttribute("aria-label", t("open")); closeBtn.setAttribute("aria-label", t("close"));
    input.placeholder = t("placeholder"); send.textContent = t("send");
    conn.textContent = t("reconnecting");
    renderStatus();
  }

  var open = MODE === "page";
  function setOpen(value) {
    open = value; root.classList.toggle("sb-open", open);
    if (open) { connect(); setTimeout(function () { input.focus(); }, 0); }
  }
  launcher.addEventListener("click", function () { setOpen(true); });
  closeBtn.addEventListener("click", function () { setOpen(false); });

  // ---------------------------------------------------------------- messages
  var lastSeq = 0;
  var seen = {};
  var pending = [];  // customer bubbles not yet confirmed by the stream

  function scroll() { log.scrollTop = log.scrollHeight; }

  function disableOldButtons() {
    var buttons = log.querySelectorAll(".sb-buttons button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
  }

  function addMessage(m) {
    if (seen[m.seq]) return;
    seen[m.seq] = true;
    if (m.seq > lastSeq) lastSeq = m.seq;
    if (m.role === "user") {
      var mine = pending.length ? pending.shift() : null;  // sent from here, in order
      if (mine) {
        mine.node.classList.remove("sb-pending", "sb-failed");
        mine.node.querySelector(".sb-text").textContent = m.text;
        mine.node.setAttribute("data-seq", m.seq);
        return;
      }
    }
    disableOldButtons();
    var node = el("div", "sb-msg sb-" + m.role);
    node.setAttribute("data-seq", m.seq);
    if (m.role === "agent" && m.agent) node.appendChild(el("div", "sb-who", m.agent));
    node.appendChild(el("div", "sb-text", m.text));
    if (m.buttons && m.buttons.length) {
      var row = el("div", "sb-buttons");
      m.buttons.forEach(function (b) {
        var button = el("button", null, b.title);
        button.type = "button";
        button.addEventListener("click", function () {
          disableOldButtons(); post(b.payload, b.title);
        });
        row.appendChild(button);
      });
      node.appendChild(row);
    }
    // a pending bubble stays last until the stream confirms it
    var firstPending = pending.length ? pending[0].node : null;
    log.insertBefore(node, firstPending);
    scroll();
  }

  var handoff = null;
  function renderStatus() {
    if (!handoff) { status.hidden = true; status.textContent = ""; return; }
    status.hidden = false;
    if (handoff.status === "waiting") {
      status.textContent = handoff.wait_minutes != null
        ? t("queued", {n: handoff.position, m: handoff.wait_minutes})
        : t("queuedUnknown", {n: handoff.position});
      status.className = "sb-status sb-waiting";
    } else {
      status.textContent = t("assigned", {agent: handoff.agent || ""});
      status.className = "sb-status sb-assigned";
    }
  }

  function onStatus(s) {
    if (!FIXED_LANG && s.language && pickLang(s.language) && pickLang(s.language) !== lang) {
      lang = pickLang(s.language); applyStrings();
    }
    handoff = s.handoff; renderStatus();
  }

  // ---------------------------------------------------------------- sending
  function post(text, display) {
    var item = {text: display || text, node: el("div", "sb-msg sb-user sb-pending")};
    item.node.appendChild(el("div", "sb-text", item.text));
    pending.push(item); log.appendChild(item.node); scroll();
    var body = {text: text};
    if (display) body.display = display;
    function attempt() {
      item.node.classList.remove("sb-failed"); item.node.removeAttribute("title");
      fetch(BASE + "/chat/api/" + encodeURIComponent(cid) + "/messages", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)
      }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        connect();
      }).catch(function () {
        if (!item.node.getAttribute("data-seq")) {
          item.node.classList.add("sb-failed"); item.node.title = t("notSent");
          item.node.onclick = function () { item.node.onclick = null; attempt(); };
        }
      });
    }
    attempt();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    post(text);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });

  // ---------------------------------------------------------------- the event stream
  var source = null, retryTimer = null, connTimer = null;
  function connect() {
    if (source && source.readyState !== 2) return;  // open or reconnecting by itself
    if (source) source.close();
    clearTimeout(retryTimer);
    source = new EventSource(BASE + "/chat/api/" + encodeURIComponent(cid) + "/events?after=" + lastSeq);
    source.addEventListener("open", function () {
      clearTimeout(connTimer); connTimer = null; conn.hidden = true;
    });
    source.addEventListener("message", function (e) { addMessage(JSON.parse(e.data)); });
    source.addEventListener("status", function (e) { onStatus(JSON.parse(e.data)); });
    source.addEventListener("error", function () {
      // the server ends each stream after a while; only a lasting failure is shown
      if (!connTimer) connTimer = setTimeout(function () { conn.hidden = false; }, 2500);
      if (source.readyState === 2) {  // closed for good: reconnect from the last message seen
        retryTimer = setTimeout(connect, 1000);
      }
    });
  }
  window.addEventListener("online", function () {
    if (source) source.close();
    source = null; connect();
  });

  function mount() {
    document.body.appendChild(root);
    applyStrings();
    if (open) { root.classList.add("sb-open"); connect(); }
    window.supportbotChat = {conversationId: cid, open: function () { setOpen(true); }};
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
