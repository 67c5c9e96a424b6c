// The board's only script: it applies Telegram's theme, and on the sign-in page hands the
// initData Telegram gave the page to the server. Telegram's own script is not loaded (nothing
// from outside the bot is), so both come from the launch parameters in the address's fragment,
// which Telegram's clients put there when they open a Mini App.
(function () {
  "use strict";
  var launch = new URLSearchParams(location.hash.slice(1));
  var theme = launch.get("tgWebAppThemeParams");
  try {
    if (theme) sessionStorage.setItem("board-theme", theme);
    else theme = sessionStorage.getItem("board-theme");
  } catch (e) { /* storage may be off: the theme is then the system's */ }
  if (theme) {
    try {
      var params = JSON.parse(theme);
      var root = document.documentElement;
      Object.keys(params).forEach(function (key) {
        if (/^[a-z_]+$/.test(key) && /^#[0-9a-fA-F]{3,8}$/.test(params[key])) {
          root.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), params[key]);
        }
      });
      root.setAttribute("data-theme", "telegram");
    } catch (e) { /* a theme that does not parse is ignored */ }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var say = document.querySelector("[data-sign-in]");
    if (!say) return;
    var data = launch.get("tgWebAppData") || "";
    if (!data) {
      say.textContent = "请从 Telegram 中的按钮打开本页。";
      return;
    }
    fetch("/board/session", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Content-Type": "text/plain" }
    }).then(function (answer) {
      if (answer.ok) location.replace("/board/requests");
      else say.textContent = "登录未通过（" + answer.status + "）：请从 Telegram 重新打开本页。";
    }, function () {
      say.textContent = "连接失败，请稍后重试。";
    });
  });
})();
