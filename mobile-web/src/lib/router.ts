// Path routing with the History API: the server answers every client path with index.html.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "home" }
  | { name: "patients" }
  | { name: "timeline"; patientId: string }
  | { name: "compose"; patientId: string; replyTo?: string }
  | { name: "team"; patientId: string }
  | { name: "outbox" }
  | { name: "notices" }
  | { name: "feed" }
  | { name: "incident"; incidentId: string; view?: IncidentView }
  | { name: "safety" };

/** The planner's views of one incident. */
export type IncidentView = "list" | "board" | "map" | "print";
const VIEWS: readonly IncidentView[] = ["list", "board", "map", "print"];

// The incident screens and the safety checks live under /home's query (/home?incident=ID&view=map,
// /home?view=safety): the server answers only the client paths it lists with index.html, and
// these are reached by reload or from a notice's link too.
export function parse(path: string): Route {
  const [pathname, search = ""] = path.split("?", 2);
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "home" && parts.length === 1 && search) {
    const query = new URLSearchParams(search);
    const incidentId = query.get("incident");
    const view = VIEWS.find((v) => v === query.get("view"));
    if (incidentId) return { name: "incident", incidentId, view: view ?? "list" };
    if (query.get("view") === "safety") return { name: "safety" };
  }
  if (parts[0] === "patients" && parts.length === 1) return { name: "patients" };
  if (parts[0] === "patients" && parts.length === 2) return { name: "timeline", patientId: parts[1] };
  if (parts[0] === "patients" && parts[2] === "new") return { name: "compose", patientId: parts[1] };
  if (parts[0] === "patients" && parts[2] === "reply" && parts[3]) {
    return { name: "compose", patientId: parts[1], replyTo: parts[3] };
  }
  if (parts[0] === "patients" && parts[2] === "team") return { name: "team", patientId: parts[1] };
  if (parts[0] === "outbox") return { name: "outbox" };
  if (parts[0] === "notices") return { name: "notices" };
  if (parts[0] === "feed") return { name: "feed" };
  return { name: "home" };
}

export function href(route: Route): string {
  switch (route.name) {
    case "home":
      return "/";
    case "patients":
      return "/patients";
    case "timeline":
      return `/patients/${encodeURIComponent(route.patientId)}`;
    case "compose":
      return route.replyTo
        ? `/patients/${encodeURIComponent(route.patientId)}/reply/${encodeURIComponent(route.replyTo)}`
        : `/patients/${encodeURIComponent(route.patientId)}/new`;
    case "team":
      return `/patients/${encodeURIComponent(route.patientId)}/team`;
    case "outbox":
      return "/outbox";
    case "notices":
      return "/notices";
    case "feed":
      return "/feed";
    case "incident": {
      const base = `/home?incident=${encodeURIComponent(route.incidentId)}`;
      return route.view && route.view !== "list" ? `${base}&view=${route.view}` : base;
    }
    case "safety":
      return "/home?view=safety";
  }
}

export function navigate(route: Route, replace = false): void {
  const url = href(route);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname + location.search));
  useEffect(() => {
    const onPop = () => setRoute(parse(location.pathname + location.search));
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  return route;
}

/** A same-page link: plain <a href> for the browser, history navigation on click. */
export function onLinkClick(event: MouseEvent, route: Route): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(route);
}
