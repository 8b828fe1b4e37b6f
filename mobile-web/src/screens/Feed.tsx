import { useEffect, useState } from "preact/hooks";
import { useSession } from "../context";
import { t } from "../i18n";
import { gql, OfflineError } from "../lib/api";
import { MY_FEED } from "../lib/queries";
import { onLinkClick } from "../lib/router";
import type { PostRow } from "../lib/types";
import { PostItem } from "./Timeline";

type FeedPost = PostRow & { patient: { id: string; displayName: string } | null };

interface FeedData {
  myFeed: { edges: { node: FeedPost }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

/** Posts of all the user's care-team patients, newest first (online only: it is a server query). */
export function Feed() {
  const { me, notify } = useSession();
  const [urgentOnly, setUrgentOnly] = useState(false);
  const [posts, setPosts] = useState<FeedPost[] | null>(null);
  const [next, setNext] = useState<string | null>(null);

  const load = async (after: string | null) => {
    try {
      const data = await gql<FeedData>(MY_FEED, { after, urgentOnly });
      const rows = data.myFeed.edges.map((e) => e.node);
      setPosts((current) => (after ? [...(current ?? []), ...rows] : rows));
      setNext(data.myFeed.pageInfo.hasNextPage ? data.myFeed.pageInfo.endCursor : null);
    } catch (caught) {
      notify(caught instanceof OfflineError ? t("app.offline") : t("app.error", { message: String(caught) }));
      setPosts((current) => current ?? []);
    }
  };
  useEffect(() => void load(null), [urgentOnly]);

  return (
    <section class="stack">
      <h1>{t("feed.title")}</h1>
      <label class="check">
        <input type="checkbox" checked={urgentOnly} onChange={(e) => setUrgentOnly(e.currentTarget.checked)} />
        <span>{t("feed.urgentOnly")}</span>
      </label>
      {posts === null ? (
        <p>{t("app.loading")}</p>
      ) : posts.length === 0 ? (
        <p class="empty">{t("feed.empty")}</p>
      ) : (
        <ol class="posts" aria-label={t("feed.title")}>
          {posts.map((post) => (
            <li key={post.id} class="feed-item">
              {post.patient && (
                <a
                  class="feed-patient"
                  href={`/patients/${encodeURIComponent(post.patient.id)}`}
                  onClick={(e) => onLinkClick(e, { name: "timeline", patientId: post.patient!.id })}
                >
                  {post.patient.displayName}
                </a>
              )}
              <ol class="posts">
                <PostItem post={post} team={null} me={me.username} onChanged={() => void load(null)} />
              </ol>
            </li>
          ))}
        </ol>
      )}
      {next && (
        <button type="button" onClick={() => void load(next)}>
          {t("timeline.more")}
        </button>
      )}
    </section>
  );
}
