/** Cursor pagination of the Micro API's lists: a page is `{next, results}`, `next` a link
 * whose `cursor` query parameter asks for the following page. */

/** A page of a list: its items and the link to the next page (null on the last one). */
export interface Page<T> {
  next: string | null;
  results: T[];
}

/** The cursor of the page after `page`, or undefined on the last page. Only the link's
 * `cursor` parameter is read: the next request goes to the client's own base URL. */
export function nextCursor(page: Pick<Page<unknown>, "next">): string | undefined {
  if (page.next === null) return undefined;
  let link: URL;
  try {
    link = new URL(page.next);
  } catch {
    return undefined;
  }
  return link.searchParams.get("cursor") ?? undefined;
}

/** Every item of a list, a page at a time: `for await (const user of paginate(micro.users.list))`. */
export async function* paginate<Q extends { cursor?: string }, T>(
  list: (query?: Q) => Promise<Page<T>>,
  query?: NoInfer<Q>,
): AsyncGenerator<T, void, undefined> {
  let cursor = query?.cursor;
  do {
    const page = await list({ ...query, cursor } as Q);
    yield* page.results;
    cursor = nextCursor(page);
  } while (cursor !== undefined);
}
