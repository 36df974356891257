import { createHash, randomFillSync } from 'node:crypto';
import sharp from 'sharp';

/** What a mock image shows; the bytes are drawn from it on demand. */
export interface ImageSpec {
  readonly width: number;
  readonly height: number;
  readonly prompt: string;
  /** Random noise instead of a flat picture, so that no encoder can make it small. */
  readonly incompressible: boolean;
  /** Soft shapes with fine grain, like a photo: a large PNG that shrinks well as a JPEG. */
  readonly photo: boolean;
  /** 1-based position in the task's `data`, so that the images of one task differ. */
  readonly index: number;
  readonly count: number;
}

const MAX_PROMPT_LINES = 8;

/**
 * Draws a PNG for a mock result: by default a flat colour from the prompt's hash with the prompt
 * on it; random noise when incompressible; a photo-like picture when asked for.
 */
export async function drawImage(spec: ImageSpec): Promise<Buffer> {
  if (spec.incompressible) return drawNoise(spec.width, spec.height);
  if (spec.photo) return drawPhoto(spec.width, spec.height);
  const background = colourFromText(`${spec.prompt}\u0000${spec.index}`);
  const textColour = luminance(background) > 140 ? '#111111' : '#f5f5f5';
  const fontSize = Math.max(14, Math.round(Math.min(spec.width, spec.height) / 22));
  const charactersPerLine = Math.max(8, Math.floor((spec.width * 0.9) / (fontSize * 0.6)));
  const lines = wrapText(spec.prompt, charactersPerLine, MAX_PROMPT_LINES);
  const label = `mock · ${spec.width}×${spec.height} · image ${spec.index}/${spec.count}`;
  const lineHeight = Math.round(fontSize * 1.3);
  const bandHeight = Math.min(spec.height, lineHeight * (lines.length + 2));
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${spec.width}" height="${bandHeight}">`,
    `<g font-family="DejaVu Sans, sans-serif" fill="${textColour}" text-anchor="middle">`,
    ...lines.map(
      (line, lineIndex) =>
        `<text x="50%" y="${lineHeight * (lineIndex + 1)}" font-size="${fontSize}">${escapeXml(line)}</text>`,
    ),
    `<text x="50%" y="${lineHeight * (lines.length + 1.5)}" font-size="${Math.round(fontSize * 0.6)}">${escapeXml(label)}</text>`,
    '</g></svg>',
  ].join('');
  // A band as tall as the text, not a full-size overlay: compositing a 4K SVG is the slow part.
  return sharp({
    create: { width: spec.width, height: spec.height, channels: 3, background },
  })
    .composite([
      {
        input: Buffer.from(svg),
        top: Math.max(0, Math.round((spec.height - bandHeight) / 2)),
        left: 0,
      },
    ])
    .png()
    .toBuffer();
}

async function drawNoise(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.allocUnsafe(width * height * 3);
  randomFillSync(pixels);
  // Deflate cannot shrink random bytes, so level 0 gives the same size several times faster.
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 0, adaptiveFiltering: false })
    .toBuffer();
}

/**
 * Something a real result's encoder faces: broad soft shapes, mid-sized detail and a fine grain
 * (a photo's sensor noise, or a model's texture). As a PNG it is as large as a real 4K result
 * (about 25 MB at 4096×4096); as a quality-90 JPEG about a tenth of that. Drawn at a quarter of
 * the size and scaled up, so that a 4K picture takes about two seconds rather than ten.
 */
async function drawPhoto(width: number, height: number): Promise<Buffer> {
  const lowWidth = Math.max(2, Math.ceil(width / 4));
  const lowHeight = Math.max(2, Math.ceil(height / 4));
  const field = (across: number) => {
    const down = Math.max(2, Math.round((across * height) / width));
    const cells = Buffer.allocUnsafe(across * down * 3);
    randomFillSync(cells);
    return sharp(cells, { raw: { width: across, height: down, channels: 3 } })
      .resize(lowWidth, lowHeight, { kernel: 'cubic', fit: 'fill' })
      .raw()
      .toBuffer();
  };
  const [shapes, detail] = await Promise.all([field(8), field(64)]);
  const texture = Buffer.allocUnsafe(lowWidth * lowHeight * 3);
  randomFillSync(texture);
  const low = Buffer.allocUnsafe(texture.length);
  for (let offset = 0; offset < low.length; offset += 1) {
    low[offset] = clampByte(
      40 +
        (shapes[offset] ?? 0) * 0.6 +
        ((detail[offset] ?? 128) - 128) * 0.35 +
        ((texture[offset] ?? 128) - 128) * 0.12,
    );
  }
  const pixels = await sharp(low, { raw: { width: lowWidth, height: lowHeight, channels: 3 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
  const grain = Buffer.allocUnsafe(pixels.length);
  randomFillSync(grain);
  for (let offset = 0; offset < pixels.length; offset += 1) {
    pixels[offset] = clampByte((pixels[offset] ?? 0) + ((grain[offset] ?? 0) & 7) - 3);
  }
  // Filtered as real encoders do (that is what makes a photo's PNG smaller than its raw pixels);
  // a low deflate level keeps drawing fast and costs only a little size.
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 3, adaptiveFiltering: true })
    .toBuffer();
}

function clampByte(value: number): number {
  return Math.min(255, Math.max(0, value));
}

interface Colour {
  r: number;
  g: number;
  b: number;
}

function colourFromText(text: string): Colour {
  const digest = createHash('sha256').update(text).digest();
  return { r: digest[0] ?? 0, g: digest[1] ?? 0, b: digest[2] ?? 0 };
}

function luminance(colour: Colour): number {
  return 0.299 * colour.r + 0.587 * colour.g + 0.114 * colour.b;
}

/** Splits on spaces into lines of at most `width` characters; long words are cut. */
export function wrapText(text: string, width: number, maxLines: number): string[] {
  const lines: string[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length > 0) lines.push(current.join(''));
    current = [];
  };
  for (const word of text.split(/\s+/).filter((part) => part !== '')) {
    let characters = [...word];
    if (current.length > 0 && current.length + 1 + characters.length > width) flush();
    if (current.length > 0) current.push(' ');
    while (current.length + characters.length > width) {
      const room = width - current.length;
      current.push(...characters.slice(0, room));
      characters = characters.slice(room);
      flush();
    }
    current.push(...characters);
  }
  flush();
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  kept[maxLines - 1] = `${[...(kept[maxLines - 1] ?? '')].slice(0, width - 1).join('')}…`;
  return kept;
}

/**
 * Escapes text for an SVG text node. Characters XML 1.0 forbids (most control characters, lone
 * surrogates) are dropped, since one of them makes librsvg refuse the whole picture.
 */
export function escapeXml(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

/** Rendered PNGs by image id, least recently used dropped first, bounded by count and bytes. */
export class ImageCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  get(id: string): Buffer | undefined {
    const bytes = this.entries.get(id);
    if (bytes !== undefined) {
      this.entries.delete(id);
      this.entries.set(id, bytes);
    }
    return bytes;
  }

  set(id: string, bytes: Buffer): void {
    const existing = this.entries.get(id);
    if (existing !== undefined) {
      this.entries.delete(id);
      this.bytes -= existing.length;
    }
    this.entries.set(id, bytes);
    this.bytes += bytes.length;
    for (const [oldId, oldBytes] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      if (oldId === id) continue;
      this.entries.delete(oldId);
      this.bytes -= oldBytes.length;
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
