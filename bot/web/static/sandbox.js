// 督办 sandbox: send a message as the picked person, show the reply, poll the outbox.
(function () {
  "use strict";
  var root = document.getElementById("sandbox");
  if (!root) return;
  var csrf = root.getAttribute("data-csrf");
  var sendUrl = root.getAttribute("data-send");
  var outboxUrl = root.getAttribute("data-outbox");
  var log = document.getElementById("chatlog");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var person = document.getElementById("person");
  var custom = document.getElementById("custom-id");
  var customWrap = document.getElementById("custom-wrap");
  var outbox = document.getElementById("outbox");
  var outboxCount = document.getElementById("outbox-count");
  var lastOutbox = null;

  function who() {
    var opt = person.options[person.selectedIndex];
    if (opt.value === "__custom__") {
      return { id: custom.value.trim(), name: custom.value.trim(), admin: false };
    }
    return { id: opt.value, name: opt.getAttribute("data-name") || opt.value,
             admin: opt.getAttribute("data-admin") === "1" };
  }

  function bubble(cls, label, html, text) {
    var div = document.createElement("div");
    div.className = "msg " + cls;
    var span = document.createElement("span");
    span.className = "who";
    span.textContent = label;
    div.appendChild(span);
    var body = document.createElement("div");
    // `html` comes from the server, which escapes everything before adding the few tags.
    if (html !== null) body.innerHTML = html; else body.textContent = text;
    div.appendChild(body);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function send(text) {
    var p = who();
    if (!p.id) { bubble("sys", "", null, "请先填写用户 ID。"); custom.focus(); return; }
    bubble("me", p.name + (p.admin ? "（管理员）" : ""), null, text);
    fetch(sendUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf,
                 "Accept": "application/json" },
      credentials: "same-origin",
      // Who may act as the office is the server's decision (bot/runtime.py), not the page's.
      body: JSON.stringify({ user_id: p.id, name: p.name, text: text })
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (res) {
      if (!res.ok) { bubble("sys", "", null, res.data.error || "发送失败，请重试。"); return; }
      if (res.data.silent) { bubble("sys", "", null, "（机器人没有回复）"); return; }
      var b = bubble("bot", "督办助手", res.data.html, null);
      b.setAttribute("data-reply", "1");
      pollOutbox();
    }).catch(function () { bubble("sys", "", null, "网络错误，请重试。"); });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text);
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  document.querySelectorAll("[data-quick]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      input.value = btn.getAttribute("data-quick");
      input.focus();
    });
  });
  function toggleCustom() {
    customWrap.hidden = person.value !== "__custom__";
  }
  person.addEventListener("change", function () {
    toggleCustom();
    bubble("sys", "", null, "现在以「" + (who().name || "自定义用户") + "」的身份发言。");
  });
  toggleCustom();

  function renderOutbox(data) {
    outbox.textContent = "";
    var total = 0;
    if (!data.groups.length) {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = "暂无待推送的消息。";
      outbox.appendChild(p);
    }
    data.groups.forEach(function (g) {
      var sec = document.createElement("section");
      sec.setAttribute("data-department", g.department);
      var h = document.createElement("h3");
      h.textContent = g.label + "（" + g.items.length + "）";
      sec.appendChild(h);
      g.items.forEach(function (it) {
        total += 1;
        var div = document.createElement("div");
        div.className = "item";
        var meta = document.createElement("div");
        meta.className = "muted";
        meta.textContent = it.kind_label + " · " + it.local_time +
          (it.mentions.length ? " · @" + it.mentions.join(" @") : "");
        div.appendChild(meta);
        var body = document.createElement("div");
        body.innerHTML = it.html;
        div.appendChild(body);
        sec.appendChild(div);
      });
      outbox.appendChild(sec);
    });
    outboxCount.textContent = String(total);
  }

  function pollOutbox() {
    fetch(outboxUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.latest !== lastOutbox) { lastOutbox = data.latest; renderOutbox(data); }
      })
      .catch(function () { /* the next poll tries again */ });
  }
  pollOutbox();
  window.setInterval(pollOutbox, 3000);
})();
