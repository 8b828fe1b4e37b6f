import type { PostRow } from "./types";

/** Newest first, one row per post id (a live event and the query may bring the same post); a
 *  reply goes into its thread's replies, oldest first, when the thread is here. */
export function merge(current: PostRow[], incoming: PostRow[]): PostRow[] {
  const byId = new Map(current.map((p) => [p.id, p]));
  for (const post of incoming) {
    const parent = post.replyToId ? byId.get(post.replyToId) : undefined;
    if (parent) {
      const replies = new Map((parent.replies ?? []).map((r) => [r.id, r]));
      replies.set(post.id, post);
      const sorted = [...replies.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      byId.set(parent.id, { ...parent, replies: sorted });
    } else {
      // A thread as the query sends it keeps the replies it had here when the event brought none.
      const known = byId.get(post.id);
      byId.set(post.id, post.replies === undefined && known?.replies ? { ...post, replies: known.replies } : post);
    }
  }
  return [...byId.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
