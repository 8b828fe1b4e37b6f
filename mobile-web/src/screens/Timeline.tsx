import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "../context";
import { formatDateTime, formatList, formatNumber, t, type MessageKey } from "../i18n";
import { gql, gqlPartial, OfflineError } from "../lib/api";
import { outboxState } from "./Outbox";
import { Trends } from "./Trends";
import { PATIENT_LOST_EVENT } from "../lib/events";
import { subscribeFrom, type FeedEvent } from "../lib/live";
import { ACKNOWLEDGE, EDIT_POST, MARK_POSTS_READ, PATIENT_EVENTS, POST_HISTORY, RETRACT_POST, TIMELINE } from "../lib/queries";
import { writesPosts } from "../lib/roles";
import { href, navigate, onLinkClick } from "../lib/router";
import { keepTeam, type TeamMember } from "../lib/mentions";
import { IncidentBanner, useMySafetyChecks } from "./SafetyChecks";
import { isPostEntry, listOutbox, type OutboxEntry } from "../lib/outbox";
import { dropPatient, loadPosts, savePosts } from "../lib/store";
import { merge } from "../lib/timeline";
import type { PostRow, VitalName } from "../lib/types";

interface TimelineData {
  patient: {
    id: string;
    displayName: string;
    careTeam: { members: TeamMember[] } | null;
    timeline: { edges: { node: PostRow }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } | null;
  } | null;
}


export function Timeline({ patientId }: { patientId: string }) {
  const { db, me, notify, sessionEnded, online } = useSession();
  const [name, setName] = useState("");
  const [posts, setPosts] = useState<PostRow[] | null>(null);
  // The professionals on the team (their usernames), for "read by 2 of 4"; null when not shown.
  const [team, setTeam] = useState<string[] | null>(null);
  const [live, setLive] = useState(false);
  const [gone, setGone] = useState(false);
  const [pending, setPending] = useState<OutboxEntry[]>([]);
  const [older, setOlder] = useState<string | null>(null); // the cursor of the next older page
  const { checks } = useMySafetyChecks();

  /** The newest page again: after a break in the live feed, or once a post of ours was sent. */
  const refresh = async () => {
    try {
      const data = await gql<TimelineData>(TIMELINE, { id: patientId, after: null });
      const rows = data.patient?.timeline?.edges.map((e) => e.node) ?? [];
      await savePosts(db, rows);
      setPosts((current) => merge(current ?? [], rows));
    } catch {
      // Offline again or refused: the live feed or the next refresh brings it.
    }
  };

  useEffect(() => {
    let waiting = 0;
    const reload = () =>
      void listOutbox(db).then((entries) => {
        const mine = entries.filter(isPostEntry).filter((e) => e.patientId === patientId).reverse();
        if (mine.length < waiting) void refresh(); // some were sent: show them as stored
        waiting = mine.length;
        setPending(mine);
      });
    reload();
    addEventListener("renraku:outbox", reload);
    return () => removeEventListener("renraku:outbox", reload);
  }, [db, patientId]);

  const loadOlder = async () => {
    if (!older) return;
    try {
      const data = await gql<TimelineData>(TIMELINE, { id: patientId, after: older });
      const page = data.patient?.timeline;
      if (!page) return;
      const rows = page.edges.map((e) => e.node);
      await savePosts(db, rows);
      setPosts((current) => merge(current ?? [], rows));
      setOlder(page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null);
    } catch (caught) {
      notify(caught instanceof OfflineError ? t("app.offline") : t("app.error", { message: String(caught) }));
    }
  };

  useEffect(() => {
    const lost = (event: Event) => {
      if ((event as CustomEvent<string>).detail === patientId) {
        setGone(true);
        setPosts([]);
      }
    };
    addEventListener(PATIENT_LOST_EVENT, lost);
    return () => removeEventListener(PATIENT_LOST_EVENT, lost);
  }, [patientId]);

  const loseAccess = async () => {
    const dropped = await dropPatient(db, patientId);
    setGone(true);
    setPosts([]);
    if (dropped) notify(t("outbox.dropped", { count: dropped }));
  };

  useEffect(() => {
    let cancelled = false;
    // Live first, then the query: whatever is posted in between arrives by one or the other.
    const stop = subscribeFrom(
      PATIENT_EVENTS,
      { patientId, after: null },
      {
        onEvent(event: FeedEvent) {
          if (event.kind === "MEMBERSHIP_CHANGED") return; // the patient list re-checks access
          if (!event.post) return;
          const post = event.post;
          setPosts((current) => merge(current ?? [], [post]));
          void savePosts(db, [post]);
        },
        onState: setLive,
        onSessionEnded: sessionEnded,
        onLostAccess: () => void loseAccess(),
        onResumed: () => void refresh(),
      },
    );
    void (async () => {
      const known = await db.get("patients", patientId); // the name, offline too
      if (!cancelled && known) setName(known.displayName);
      const cached = await loadPosts(db, patientId);
      if (!cancelled && cached.length) setPosts((current) => merge(current ?? [], cached));
      try {
        const { data, errors } = await gqlPartial<TimelineData>(TIMELINE, { id: patientId, after: null });
        if (cancelled) return;
        if (!data?.patient || errors.some((e) => e.extensions?.code === "NOT_FOUND")) return void loseAccess();
        setName(data.patient.displayName);
        setTeam(data.patient.careTeam?.members.filter((m) => m.role !== "FAMILY").map((m) => m.user.username) ?? null);
        // Kept for the compose form: a post written offline later can still mention the team.
        if (data.patient.careTeam) await keepTeam(db, patientId, data.patient.careTeam.members);
        const fresh = data.patient.timeline?.edges.map((e) => e.node) ?? [];
        const pageInfo = data.patient.timeline?.pageInfo;
        setOlder(pageInfo?.hasNextPage ? pageInfo.endCursor : null);
        await savePosts(db, fresh);
        setPosts((current) => merge(current ?? [], fresh));
      } catch (caught) {
        if (!(caught instanceof OfflineError)) notify(t("app.error", { message: String(caught) }));
        if (!cancelled) setPosts((current) => current ?? []);
      }
    })();
    return () => {
      cancelled = true;
      stop();
    };
  }, [patientId]);

  const list = useRef<HTMLOListElement>(null);
  useReadOnSight(list, posts, me.username);

  if (gone) {
    return (
      <section class="stack">
        <p class="empty">{t("timeline.gone")}</p>
        <a href="/patients" onClick={(e) => onLinkClick(e, { name: "patients" })}>
          {t("timeline.back")}
        </a>
      </section>
    );
  }

  return (
    <section class="stack">
      <a class="back" href="/patients" onClick={(e) => onLinkClick(e, { name: "patients" })}>
        ← {t("timeline.back")}
      </a>
      <h1>
        {name || t("timeline.title")}
      </h1>
      <IncidentBanner checks={checks} patientId={patientId} />
      {writesPosts(me) && (
        <a
          class="team-link"
          href={`/patients/${encodeURIComponent(patientId)}/team`}
          onClick={(e) => onLinkClick(e, { name: "team", patientId })}
        >
          {t("team.link")}
        </a>
      )}
      <p class={live && online ? "live on" : "live"}>{live && online ? t("timeline.live") : t("timeline.notLive")}</p>
      {writesPosts(me) && (
        <button type="button" class="primary" onClick={() => navigate({ name: "compose", patientId })}>
          {t("timeline.compose")}
        </button>
      )}
      {posts && <Trends posts={posts} />}
      {pending.length > 0 && (
        <ol class="posts pending" aria-label={t("outbox.title")}>
          {pending.map((entry) => (
            <li key={entry.clientId} class="post pending" data-status={entry.status}>
              <div class="post-head">
                <span class="category">{t(`category.${entry.input.category}` as MessageKey)}</span>
                <span class="badge">{outboxState(entry)}</span>
              </div>
              {entry.input.body && <p class="body">{entry.input.body}</p>}
              {!!entry.photos?.length && <p class="meta">{t("outbox.photos", { count: entry.photos.length })}</p>}
              {!!entry.mentions?.length && (
                <p class="meta mentions">{t("timeline.mentions", { names: formatList(entry.mentions.map((m) => m.displayName)) })}</p>
              )}
            </li>
          ))}
        </ol>
      )}
      {posts === null ? (
        <p>{t("app.loading")}</p>
      ) : posts.length === 0 ? (
        <p class="empty">{t("timeline.empty")}</p>
      ) : (
        <ol class="posts" aria-label={t("timeline.title")} ref={list}>
          {posts.map((post) => (
            <PostItem
              key={post.id}
              post={post}
              team={team}
              me={me.username}
              onChanged={(changed) => {
                setPosts((current) => merge(current ?? [], [changed]));
                void savePosts(db, [changed]);
              }}
            />
          ))}
        </ol>
      )}
      {older && (
        <button type="button" onClick={() => void loadOlder()}>
          {t("timeline.more")}
        </button>
      )}
    </section>
  );
}

const READ_BATCH_MS = 800;

/** Posts are read as they come into sight (half of one on the screen), not when the notebook
 *  opens: a post that arrives live, or one far down, is read when it is seen. Marks go in small
 *  batches; one that fails (offline) is tried again the next time the post is seen. */
function useReadOnSight(list: { current: HTMLOListElement | null }, posts: PostRow[] | null, me: string): void {
  const marked = useRef(new Set<string>());
  const queue = useRef(new Set<string>());
  const observer = useRef<IntersectionObserver | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    const flush = async () => {
      timer.current = undefined;
      const ids = [...queue.current];
      queue.current.clear();
      if (!ids.length) return;
      try {
        await gql(MARK_POSTS_READ, { ids });
      } catch {
        for (const id of ids) marked.current.delete(id);
      }
    };
    observer.current = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const id = (entry.target as HTMLElement).dataset.postId;
          if (!entry.isIntersecting || !id || marked.current.has(id)) continue;
          marked.current.add(id);
          queue.current.add(id);
          timer.current ??= setTimeout(() => void flush(), READ_BATCH_MS);
        }
      },
      { threshold: 0.5 },
    );
    return () => {
      observer.current?.disconnect();
      clearTimeout(timer.current);
      void flush();
    };
  }, []);

  useEffect(() => {
    if (!posts || !list.current || !observer.current) return;
    const readByMe = new Set(posts.filter((p) => p.readBy?.some((r) => r.user.username === me)).map((p) => p.id));
    for (const item of list.current.querySelectorAll<HTMLElement>("li[data-post-id]")) {
      const id = item.dataset.postId!;
      if (readByMe.has(id)) marked.current.add(id);
      else observer.current.observe(item);
    }
  }, [posts]);
}

const VITAL_ORDER: VitalName[] = ["temperature", "systolic", "diastolic", "pulse", "spo2", "respiration", "weight", "bloodGlucose", "pain"];
const UNITS: Partial<Record<VitalName, string>> = {
  temperature: "°C",
  systolic: "mmHg",
  diastolic: "mmHg",
  pulse: "/min",
  spo2: "%",
  respiration: "/min",
  weight: "kg",
  bloodGlucose: "mg/dL",
};

export function PostItem(props: { post: PostRow; team: string[] | null; me: string; onChanged(post: PostRow): void }) {
  const { post, team } = props;
  const flagged = new Set(post.vitals?.flagged ?? []);
  const mustAcknowledge = (post.awaitingAcknowledgement ?? []).some((p) => p.username === props.me);
  const acknowledge = async () => {
    try {
      const data = await gql<{ acknowledgePost: PostRow }>(ACKNOWLEDGE, { id: post.id });
      props.onChanged(data.acknowledgePost);
    } catch {
      // offline or refused: the button stays for another try
    }
  };
  return (
    <li class={`post${post.urgent ? " urgent" : ""}`} data-post-id={post.id}>
      <div class="post-head">
        <span class={`category cat-${post.category.toLowerCase()}`}>{t(`category.${post.category}` as MessageKey)}</span>
        {post.urgent && <span class="badge urgent">{t("timeline.urgent")}</span>}
        {post.visibleToFamily && <span class="badge">{t("timeline.family")}</span>}
        {post.overdue && <span class="badge urgent">{t("timeline.overdue")}</span>}
      </div>
      <p class="meta">
        {post.author?.displayName ?? ""} · <time dateTime={post.createdAt}>{formatDateTime(post.createdAt)}</time>
        {post.editedAt && <> · {t("timeline.edited")}</>}
      </p>
      {post.retractedAt ? (
        <p class="retracted">{t("timeline.retracted", { reason: post.retractReason ?? "" })}</p>
      ) : (
        <>
          {post.body && <p class="body">{post.body}</p>}
          {!!post.mentions?.length && (
            <p class="meta mentions">{t("timeline.mentions", { names: formatList(post.mentions.map((m) => m.displayName)) })}</p>
          )}
          {post.photos.length > 0 && (
            <ul class="thumbs">
              {post.photos.map((photo, i) => (
                <li key={photo.id}>
                  <a href={photo.url} target="_blank" rel="noopener" aria-label={t("timeline.photo", { n: i + 1 })}>
                    <img src={photo.thumbnailUrl} alt="" width={88} height={88} loading="lazy" />
                  </a>
                </li>
              ))}
            </ul>
          )}
          {post.vitals && (
            <dl class="vitals" aria-label={t("vitals.title")}>
              {VITAL_ORDER.filter((v) => post.vitals?.[v] != null).map((v) => (
                <div class={flagged.has(v) ? "vital flagged" : "vital"} key={v}>
                  <dt>{t(`vitals.${v}` as MessageKey)}</dt>
                  <dd>
                    {formatNumber(post.vitals![v]!)}
                    {UNITS[v] ? ` ${UNITS[v]}` : ""}
                    {flagged.has(v) && <span class="flag"> ⚠ {t("vitals.flagged")}</span>}
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </>
      )}
      {post.category === "INSTRUCTION" && post.acknowledgedBy && (
        <p class="meta">
          {t("timeline.acknowledged", { count: post.acknowledgedBy.length })}
          {post.awaitingAcknowledgement?.length
            ? ` · ${t("timeline.awaiting", { names: post.awaitingAcknowledgement.map((p) => p.displayName).join("、") })}`
            : ""}
        </p>
      )}
      {!post.retractedAt && (
        <PostTools post={post} mine={post.author?.username === props.me} onChanged={props.onChanged} />
      )}
      {post.editedAt && <PostHistory postId={post.id} />}
      {mustAcknowledge && !post.retractedAt && (
        <button type="button" class="primary" onClick={() => void acknowledge()}>
          {t("timeline.acknowledge")}
        </button>
      )}
      {!!post.replies?.length && (
        <ol class="posts replies">
          {post.replies.map((reply) => (
            <PostItem key={reply.id} post={reply} team={team} me={props.me} onChanged={props.onChanged} />
          ))}
        </ol>
      )}
      {post.readBy && team !== null && (
        <details class="readby">
          {/* Of the team's professionals other than the author, who has read it from the start. */}
          <summary>
            {t("timeline.readBy", {
              read: post.readBy.filter((r) => r.user.username !== post.author?.username).length,
              total: team.filter((u) => u !== post.author?.username).length,
            })}
          </summary>
          <ul>
            {post.readBy.map((r) => (
              <li key={r.user.username}>{r.user.displayName}</li>
            ))}
          </ul>
        </details>
      )}
    </li>
  );
}

// A post's own actions: reply (to a thread's first post), and for its author edit and retract.
// Edits and retractions need the network (the server decides on the post as it is now).
function PostTools(props: { post: PostRow; mine: boolean; onChanged(post: PostRow): void }) {
  const { post } = props;
  const [mode, setMode] = useState<"none" | "edit" | "retract">("none");
  const [text, setText] = useState(post.body);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const fail = (e: unknown) => setError(e instanceof OfflineError ? t("post.needsNetwork") : (e as Error).message);
  const run = async (event: Event, action: () => Promise<PostRow>) => {
    event.preventDefault();
    setError("");
    try {
      props.onChanged(await action());
      setMode("none");
    } catch (e) {
      fail(e);
    }
  };
  const edit = (event: Event) =>
    run(event, async () => {
      const data = await gql<{ editPost: PostRow }>(EDIT_POST, { input: { postId: post.id, body: text } });
      return data.editPost;
    });
  const retract = (event: Event) =>
    run(event, async () => {
      const data = await gql<{ retractPost: PostRow }>(RETRACT_POST, { id: post.id, reason });
      return data.retractPost;
    });
  return (
    <div class="post-tools">
      {mode === "none" && (
        <div class="actions">
          {!post.replyToId && (
            <a
              class="button"
              href={href({ name: "compose", patientId: post.patientId, replyTo: post.id })}
              onClick={(e) => onLinkClick(e, { name: "compose", patientId: post.patientId, replyTo: post.id })}
            >
              {t("post.reply")}
            </a>
          )}
          {props.mine && (
            <>
              <button type="button" onClick={() => setMode("edit")}>
                {t("post.edit")}
              </button>
              <button type="button" onClick={() => setMode("retract")}>
                {t("post.retract")}
              </button>
            </>
          )}
        </div>
      )}
      {mode === "edit" && (
        <form class="stack" onSubmit={edit}>
          <label class="field">
            <span>{t("post.editBody")}</span>
            <textarea rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          </label>
          <SubmitOrCancel submit={t("post.save")} cancel={() => setMode("none")} />
        </form>
      )}
      {mode === "retract" && (
        <form class="stack" onSubmit={retract}>
          <label class="field">
            <span>{t("post.retractReason")}</span>
            <input type="text" value={reason} required onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          <SubmitOrCancel submit={t("post.retractConfirm")} cancel={() => setMode("none")} />
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

interface Version {
  revision: number;
  body: string;
  writtenAt: string;
  writtenBy: { displayName: string } | null;
}

// An edited post's earlier versions, loaded when opened.
function PostHistory({ postId }: { postId: string }) {
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [failed, setFailed] = useState(false);
  const load = (event: Event) => {
    if (!(event.currentTarget as HTMLDetailsElement).open || versions) return;
    gql<{ post: { history: Version[] } | null }>(POST_HISTORY, { id: postId })
      .then((data) => setVersions(data.post?.history ?? []))
      .catch(() => setFailed(true));
  };
  return (
    <details class="history" onToggle={load}>
      <summary>{t("post.history")}</summary>
      {failed && <p class="counts-note">{t("post.needsNetwork")}</p>}
      {versions && (
        <ol>
          {versions.map((v) => (
            <li key={v.revision}>
              <p class="meta">
                {t("post.revision", { n: v.revision })} · {v.writtenBy?.displayName ?? ""} ·{" "}
                <time dateTime={v.writtenAt}>{formatDateTime(v.writtenAt)}</time>
              </p>
              <p class="body">{v.body}</p>
            </li>
          ))}
        </ol>
      )}
    </details>
  );
}

function SubmitOrCancel(props: { submit: string; cancel(): void }) {
  return (
    <div class="actions">
      <button type="submit" class="primary">
        {props.submit}
      </button>
      <button type="button" onClick={props.cancel}>
        {t("compose.cancel")}
      </button>
    </div>
  );
}
