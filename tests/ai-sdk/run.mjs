// The Vercel AI SDK's generateImage against bfl-sim: one image of a requested size, checked
// to decode to that size. Run by `cargo test --test ai_sdk` (which starts the simulator with
// `--delivery same-origin`); by hand:
//   bfl sim --port 8787 --delivery same-origin &
//   BFL_SIM_BASE_URL=http://127.0.0.1:8787/v1 BFL_API_KEY=bfl_any node run.mjs
// Prints one JSON line: {"width", "height", "bytes", "format", "cost"}; exits 1 on any mismatch.
import { generateImage } from "ai";
import { createBlackForestLabs } from "@ai-sdk/black-forest-labs";

const baseURL = process.env.BFL_SIM_BASE_URL;
const width = Number(process.env.BFL_SIM_WIDTH ?? 512);
const height = Number(process.env.BFL_SIM_HEIGHT ?? 384);
if (!baseURL) {
  console.error("set BFL_SIM_BASE_URL to the simulator's base URL + /v1");
  process.exit(2);
}

// Width and height of a JPEG (its SOFn segment) or PNG (IHDR), or null.
function dimensions(b) {
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { format: "png", width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (b[0] !== 0xff || b[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    const len = (b[i + 2] << 8) | b[i + 3];
    const sof = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (sof) {
      return { format: "jpeg", height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + len;
  }
  return null;
}

const bfl = createBlackForestLabs({ baseURL, apiKey: process.env.BFL_API_KEY });
const { image, providerMetadata } = await generateImage({
  model: bfl.image("flux-2-pro"),
  prompt: "a lighthouse at dusk, checked by the AI SDK",
  providerOptions: {
    blackForestLabs: { width, height, pollIntervalMillis: 100, pollTimeoutMillis: 30000 },
  },
});
const bytes = image.uint8Array;
const dims = dimensions(bytes);
const meta = providerMetadata?.blackForestLabs?.images?.[0] ?? {};
console.log(JSON.stringify({ ...dims, bytes: bytes.length, cost: meta.cost ?? null }));
if (!dims || dims.width !== width || dims.height !== height) {
  console.error(`expected a decodable ${width}x${height} image, got ${JSON.stringify(dims)}`);
  process.exit(1);
}
