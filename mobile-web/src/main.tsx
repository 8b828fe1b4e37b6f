import { render } from "preact";
import { App } from "./app";
import { locale } from "./i18n";
import "./styles.css";

document.documentElement.lang = locale();
render(<App />, document.getElementById("app")!);

// The service worker keeps the app shell for a start without network. Not in `vite dev`.
if ("serviceWorker" in navigator && import.meta.env.PROD) {
  addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // Without it the app still works online.
    });
  });
}
