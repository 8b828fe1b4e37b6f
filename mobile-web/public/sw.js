// The service worker: keeps the app shell so the app opens without network.
// - Navigations: network first (a new build shows at once), the cached shell when offline.
// - /assets/*: file names carry a content hash, so cache first, kept as they are fetched.
// - Everything else (/graphql, /auth, /uploads) goes to the network untouched: patient data is
//   stored by the app in IndexedDB, where signing out wipes it, never in this cache.
const SHELL = "renraku-shell-v2";
// The incident's views have no dot in their path: /incidents/ID/priority.csv and .geojson are the
// server's downloads, never the shell (a navigation's answer is kept as the shell).
const APP_PAGES = /^\/(patients(\/.*)?|outbox|notices|feed|home|safety|incidents(\/[^.]*)?)?$/;
const SHELL_FILES = ["/", "/manifest.webmanifest", "/icons/icon-192.png", "/icons/icon-512.png"];

// The shell and the hashed files its index.html names: the page that registered this worker
// loaded them before the worker could see them, so they are fetched again here.
async function precache() {
  const cache = await caches.open(SHELL);
  await cache.addAll(SHELL_FILES);
  const index = await (await cache.match("/")).text();
  const assets = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  await cache.addAll(assets);
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // Only the app's own pages: GraphiQL at /graphql, /about and the like are never the shell.
  if (request.mode === "navigate" && APP_PAGES.test(url.pathname)) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(SHELL).then((cache) => cache.put("/", copy));
          }
          return response;
        })
        .catch(() => caches.match("/").then((cached) => cached || Response.error())),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/") || SHELL_FILES.includes(url.pathname)) {
    event.respondWith(
      caches.match(request).then(
        (cached) =>
          cached ||
          fetch(request).then((response) => {
            if (response.ok) {
              const copy = response.clone();
              caches.open(SHELL).then((cache) => cache.put(request, copy));
            }
            return response;
          }),
      ),
    );
  }
});
