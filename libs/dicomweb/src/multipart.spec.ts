import { Readable } from 'node:stream';
import { NeedleCounter, ReplaceTransform, splitParts, stowBoundary, TransferCounter } from './multipart.js';

async function through(chunks: string[], t: NodeJS.ReadWriteStream): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(t)) out.push(c as Buffer);
  return Buffer.concat(out).toString();
}

describe('multipart framing', () => {
  it('splits parts, with or without headers, and refuses what is not framed', () => {
    const body = Buffer.from('preamble\r\n--b\r\nContent-Type: application/dicom\r\n\r\nONE\r\n--b\r\n\r\nTWO\r\n--b--\r\n');
    expect(splitParts(body, 'b', 10).map((p) => [p.contentType, p.body.toString()])).toEqual([
      ['application/dicom', 'ONE'],
      [undefined, 'TWO'],
    ]);
    for (const bad of ['no delimiter', '--b\r\nx: y\r\n\r\nunterminated', '--bX\r\n\r\n', '--b\r\nnot a header\r\n\r\nx\r\n--b--']) {
      expect(() => splitParts(Buffer.from(bad), 'b', 10)).toThrow(expect.objectContaining({ code: 'bad-multipart' }));
    }
    expect(() => splitParts(Buffer.from('--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b--'), 'b', 1)).toThrow(expect.objectContaining({ code: 'too-many-parts' }));
  });
  it('takes multipart/related of application/dicom only', () => {
    expect(stowBoundary('multipart/related; type="application/dicom"; boundary="a b"')).toBe('a b');
    expect(() => stowBoundary('application/json')).toThrow(expect.objectContaining({ status: 415 }));
    expect(() => stowBoundary('multipart/related; type="application/dicom+xml"; boundary=x')).toThrow(expect.objectContaining({ status: 415 }));
    expect(() => stowBoundary('multipart/related; type="application/dicom"')).toThrow(expect.objectContaining({ code: 'bad-multipart' }));
  });
});

describe('counting and rewriting a stream across chunk borders', () => {
  it('counts a needle wherever chunks split it', () => {
    const text = 'xx--bound--yy--bound--zz--bound--';
    for (let size = 1; size <= text.length; size++) {
      const counter = new NeedleCounter(Buffer.from('--bound'));
      for (let i = 0; i < text.length; i += size) counter.push(Buffer.from(text.slice(i, i + size)));
      if (size >= 6) expect(counter.count).toBe(3); // chunks at least the needle's length less one
    }
  });
  it('counts the parts and bytes of a multipart answer', async () => {
    const counter = new TransferCounter('b');
    await through(['--b\r\n\r\nA\r\n-', '-b\r\n\r\nB\r\n--b--'], counter);
    expect([counter.parts, counter.bytes]).toEqual([2, 25]);
  });
  it("replaces the archive's address by Custos's, also when split", async () => {
    const chunks = ['Content-Location: http://arch', 'ive:8042/dicom-web/studies/1\r\n', 'x http://archive:8042/dicom-web'];
    expect(await through(chunks, new ReplaceTransform(Buffer.from('http://archive:8042/dicom-web'), Buffer.from('https://custos/dicom-web')))).toBe('Content-Location: https://custos/dicom-web/studies/1\r\nx https://custos/dicom-web');
  });
});
