// Follows the daemon's Server-Sent Events stream (/v1/events). EventSource cannot send an Authorization header,
// so the stream is read with fetch and parsed here (the text/event-stream format: "field: value" lines, events
// separated by a blank line). Reconnects after a pause when the connection drops.
export function follow(tok, onEvent, onState) {
  let stopped = false;
  let controller = null;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const r = await fetch("/v1/events", { headers: { Authorization: `Bearer ${tok}` }, signal: controller.signal });
        if (r.status === 401) { onState("refused"); return; }
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        onState("live");
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let event = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) event = line.slice(6).trim();
              else if (line.startsWith("data:")) data += line.slice(5).trim();
            }
            if (data) {
              try { onEvent(event, JSON.parse(data)); } catch (e) { console.warn("bad event", e); }
            }
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      onState("reconnecting");
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}
