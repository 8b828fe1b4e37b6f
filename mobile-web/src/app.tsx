import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { SessionContext, type Session } from "./context";
import { LOCALES, locale, setLocale, t, type Locale } from "./i18n";
import { gqlPartial, OfflineError, SESSION_ENDED_EVENT, sendEntry, signOut, whoAmI } from "./lib/api";
import { PATIENT_LOST_EVENT, PATIENTS_CHANGED_EVENT } from "./lib/events";
import { clearIdle, markActive, setLocked, shouldLock } from "./lib/idle";
import { closeLive, subscribeFrom } from "./lib/live";
import { MY_EVENTS, PATIENT_VISIBLE } from "./lib/queries";
import { listOutbox, sync } from "./lib/outbox";
import { getsNotices, homeFor, writesPosts } from "./lib/roles";
import { href, navigate, onLinkClick, useRoute, type Route } from "./lib/router";
import { dropPatient, openStore, wipeStore, type Store } from "./lib/store";
import type { Me } from "./lib/types";
import { Compose } from "./screens/Compose";
import { Feed } from "./screens/Feed";
import { IncidentScreen } from "./screens/Incidents";
import { Notices } from "./screens/Notices";
import { Outbox } from "./screens/Outbox";
import { PatientList } from "./screens/PatientList";
import { RoleHome } from "./screens/RoleHome";
import { SafetyChecks } from "./screens/SafetyChecks";
import { SignIn } from "./screens/SignIn";
import { Team } from "./screens/Team";
import { Timeline } from "./screens/Timeline";

const SYNC_EVERY_MS = 15_000;

type Phase = { name: "loading" } | { name: "signedOut"; expired: boolean } | { name: "signedIn"; me: Me };

export function App() {
  const [lang, setLang] = useState<Locale>(locale());
  const [db, setDb] = useState<Store | null>(null);
  const [phase, setPhase] = useState<Phase>({ name: "loading" });

  const changeLocale = (next: Locale) => {
    setLocale(next);
    setLang(next);
  };

  useEffect(() => {
    void (async () => {
      const store = await openStore();
      setDb(store);
      try {
        const me = await whoAmI();
        if (me) {
          await rememberUser(store, me);
          setPhase({ name: "signedIn", me });
        } else setPhase({ name: "signedOut", expired: false });
      } catch (error) {
        // Offline at start-up: the user who signed in last on this phone goes on with what is stored.
        const me = error instanceof OfflineError ? ((await store.get("meta", "me")) as Me | undefined) : undefined;
        setPhase(me ? { name: "signedIn", me } : { name: "signedOut", expired: false });
      }
    })();
  }, []);

  const languageSwitch = <LanguageSwitch lang={lang} onChange={changeLocale} />;
  if (phase.name === "loading" || db === null) return <p class="loading">{t("app.loading")}</p>;
  if (phase.name === "signedOut") {
    return (
      <SignIn
        expired={phase.expired}
        languageSwitch={languageSwitch}
        onSignedIn={async (me) => {
          setLocked(false);
          await rememberUser(db, me);
          setPhase({ name: "signedIn", me });
          navigate({ name: homeFor(me) === "patients" ? "patients" : "home" }, true);
        }}
      />
    );
  }
  return (
    <SignedIn
      key={phase.me.username}
      me={phase.me}
      db={db}
      languageSwitch={languageSwitch}
      onSignedOut={(expired) => setPhase({ name: "signedOut", expired })}
    />
  );
}

/** A different user on this phone starts from an empty store: nothing of the last one shows. */
async function rememberUser(db: Store, me: Me): Promise<void> {
  const last = (await db.get("meta", "me")) as Me | undefined;
  if (last && last.username !== me.username) await wipeStore(db);
  await db.put("meta", me, "me");
}

function LanguageSwitch({ lang, onChange }: { lang: Locale; onChange(next: Locale): void }) {
  return (
    <label class="lang">
      <span class="visually-hidden">{t("lang.label")}</span>
      <select value={lang} onChange={(e) => onChange((e.target as HTMLSelectElement).value as Locale)}>
        {LOCALES.map((l) => (
          <option value={l} key={l}>
            {t(l === "ja" ? "lang.ja" : "lang.en")}
          </option>
        ))}
      </select>
    </label>
  );
}

function SignedIn(props: { me: Me; db: Store; languageSwitch: preact.JSX.Element; onSignedOut(expired: boolean): void }) {
  const { me, db } = props;
  const route = useRoute();
  const [online, setOnline] = useState(navigator.onLine);
  const [outboxCount, setOutboxCount] = useState(0);
  const [message, setMessage] = useState("");
  // A notice stays long enough to be read, then goes (it is in the language it was said in).
  useEffect(() => {
    if (!message) return;
    const timer = setTimeout(() => setMessage(""), 8_000);
    return () => clearTimeout(timer);
  }, [message]);

  const runSync = useCallback(async () => {
    if (navigator.onLine) await sync(db, sendEntry);
    setOutboxCount((await listOutbox(db)).length);
    dispatchEvent(new Event("renraku:outbox"));
  }, [db]);

  useEffect(() => {
    const up = () => {
      setOnline(true);
      void runSync();
    };
    const down = () => setOnline(false);
    addEventListener("online", up);
    addEventListener("offline", down);
    const timer = setInterval(() => void runSync(), SYNC_EVERY_MS);
    void runSync();
    return () => {
      removeEventListener("online", up);
      removeEventListener("offline", down);
      clearInterval(timer);
    };
  }, [runSync]);

  const endSession = useCallback(
    async (expired: boolean) => {
      closeLive();
      clearIdle();
      // Signing out wipes this phone's copy; an expired session keeps it (and the unsent posts)
      // for the same user's next sign-in, which rememberUser wipes if someone else signs in.
      if (!expired) await wipeStore(db);
      props.onSignedOut(expired);
    },
    [db],
  );

  useEffect(() => {
    const ended = () => void endSession(true);
    addEventListener(SESSION_ENDED_EVENT, ended);
    return () => removeEventListener(SESSION_ENDED_EVENT, ended);
  }, [endSession]);

  // The user's whole feed: a lost patient is wiped from the phone at once (with its unsent posts,
  // and the user is told how many); any event refreshes the patient list's counts.
  useEffect(() => {
    const stop = subscribeFrom(
      MY_EVENTS,
      { after: null },
      {
        onEvent(event) {
          if (event.kind === "MEMBERSHIP_CHANGED") void recheckAccess(event.patientId);
          else dispatchEvent(new Event(PATIENTS_CHANGED_EVENT));
        },
        onState: () => undefined,
        onSessionEnded: () => void endSession(true),
        onLostAccess: () => undefined,
        onResumed: () => dispatchEvent(new Event(PATIENTS_CHANGED_EVENT)),
      },
    );
    const recheckAccess = async (patientId: string) => {
      try {
        const { data } = await gqlPartial<{ patient: { id: string } | null }>(PATIENT_VISIBLE, { id: patientId });
        if (data?.patient) return dispatchEvent(new Event(PATIENTS_CHANGED_EVENT));
        const dropped = await dropPatient(db, patientId);
        setMessage(t("access.lost", { count: dropped }));
        dispatchEvent(new CustomEvent(PATIENT_LOST_EVENT, { detail: patientId }));
        dispatchEvent(new Event(PATIENTS_CHANGED_EVENT));
        void runSync();
      } catch {
        // offline: the patient list reconciles with the server when it next loads
      }
    };
    return stop;
  }, [db, endSession, runSync]);

  const session: Session = useMemo(
    () => ({
      me,
      db,
      online,
      outboxCount,
      outboxChanged: () => void runSync(),
      notify: setMessage,
      sessionEnded: () => void endSession(true),
    }),
    [me, db, online, outboxCount, runSync, endSession],
  );

  const [locked, setLockedState] = useState(() => shouldLock());
  useEffect(() => {
    if (locked) return;
    markActive();
    let last = Date.now();
    const active = () => {
      const now = Date.now();
      if (now - last > 5_000) markActive((last = now)); // a write every few seconds at most
    };
    const events = ["pointerdown", "keydown", "scroll", "touchstart"];
    for (const name of events) addEventListener(name, active, { capture: true, passive: true });
    const timer = setInterval(() => {
      if (shouldLock()) {
        setLocked(true);
        setLockedState(true);
      }
    }, 1_000);
    return () => {
      for (const name of events) removeEventListener(name, active, { capture: true });
      clearInterval(timer);
    };
  }, [locked]);

  if (locked) {
    // Nothing the phone holds is shown; the sync above goes on.
    return (
      <SignIn
        expired={false}
        lockedAs={me}
        languageSwitch={props.languageSwitch}
        onSignedIn={() => {
          setLocked(false);
          setLockedState(false);
        }}
        onOtherUser={async () => {
          try {
            await signOut();
          } catch {
            // offline: this phone forgets everything all the same
          }
          await endSession(false);
        }}
      />
    );
  }

  const home: Route = homeFor(me) === "patients" ? { name: "patients" } : { name: "home" };
  const current = route.name === "home" && homeFor(me) === "patients" ? { name: "patients" as const } : route;

  return (
    <SessionContext.Provider value={session}>
      <header class="bar">
        <a class="brand" href="/" onClick={(e) => onLinkClick(e, home)}>
          {t("app.name")}
        </a>
        <div class="bar-end">
          {props.languageSwitch}
          <button
            type="button"
            class="link"
            onClick={async () => {
              try {
                await signOut();
              } catch {
                // Offline: the server session ends by itself; this phone forgets everything now.
              }
              await endSession(false);
            }}
          >
            {t("nav.signOut")}
          </button>
        </div>
      </header>
      <nav class="nav" aria-label={t("nav.main")}>
        <NavLink route={home} current={current} label={t(home.name === "patients" ? "nav.patients" : "nav.home")} />
        {writesPosts(me) && <NavLink route={{ name: "feed" }} current={current} label={t("nav.feed")} />}
        {getsNotices(me) && <NavLink route={{ name: "notices" }} current={current} label={t("nav.notices")} />}
        {writesPosts(me) && (
          <NavLink
            route={{ name: "outbox" }}
            current={current}
            label={outboxCount ? `${t("nav.outbox")} (${outboxCount})` : t("nav.outbox")}
          />
        )}
      </nav>
      {!online && (
        <p class="banner offline" role="status">
          {t("app.offline")}
        </p>
      )}
      <p class="banner notice" role="status" aria-live="polite" hidden={!message}>
        {message}
      </p>
      <main id="main">
        <Screen route={current} />
      </main>
    </SessionContext.Provider>
  );
}

function NavLink({ route, current, label }: { route: Route; current: Route; label: string }) {
  // A notebook and its compose form are within "my patients".
  const section = ["timeline", "compose", "team", "safety"].includes(current.name)
    ? "patients"
    : current.name === "incident"
      ? "home"
      : current.name;
  const active = route.name === section;
  return (
    <a href={href(route)} aria-current={active ? "page" : undefined} onClick={(e) => onLinkClick(e, route)}>
      {label}
    </a>
  );
}

function Screen({ route }: { route: Route }) {
  switch (route.name) {
    case "patients":
      return <PatientList />;
    case "timeline":
      return <Timeline key={route.patientId} patientId={route.patientId} />;
    case "compose":
      return <Compose key={href(route)} patientId={route.patientId} replyTo={route.replyTo ?? null} />;
    case "team":
      return <Team key={route.patientId} patientId={route.patientId} />;
    case "outbox":
      return <Outbox />;
    case "notices":
      return <Notices />;
    case "feed":
      return <Feed />;
    case "home":
      return <RoleHome />;
    case "incident":
      return <IncidentScreen key={route.incidentId} incidentId={route.incidentId} view={route.view ?? "list"} />;
    case "safety":
      return <SafetyChecks />;
  }
}
