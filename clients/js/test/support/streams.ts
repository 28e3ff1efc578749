/** Response bodies for tests of bounded reads: endless or failing streams that count how much
 * of them was read. */
export function endlessBody(chunkBytes = 64 * 1024, chunks = 1024): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const chunk = new Uint8Array(chunkBytes).fill(0x20);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 1;
      if (pulled > chunks) controller.close();
      else controller.enqueue(chunk);
    },
  });
  return { body, pulled: () => pulled };
}

export function failingBody(): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) controller.error(new TypeError("connection reset"));
      else controller.enqueue(new TextEncoder().encode('{"keys": ['));
      sent = true;
    },
  });
}
