// The dynamic section of an ELF shared library: which libraries it needs (DT_NEEDED) and where it looks (DT_RUNPATH /
// DT_RPATH). Reads only the headers and the two sections involved, so a 272 MB CUDA provider costs a few reads.
// 64-bit little-endian ELF only (linux/x64, the one platform onnxruntime-node ships a CUDA provider for).
import { closeSync, openSync, readSync } from 'node:fs';

export interface ElfDynamic {
  needed: string[];
  /** DT_RUNPATH (or DT_RPATH when no RUNPATH), split on ':'; `$ORIGIN` left as written. */
  runpath: string[];
  soname?: string;
}

const SHT_DYNAMIC = 6;
const DT_NEEDED = 1n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

export class ElfError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = 'ElfError';
  }
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  return n === length ? buf : buf.subarray(0, n);
}

export function readElfDynamic(file: string): ElfDynamic {
  const fd = openSync(file, 'r');
  try {
    const header = readAt(fd, 0, 64);
    if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(file, 'not an ELF file');
    if (header[4] !== 2 || header[5] !== 1) throw new ElfError(file, 'not a 64-bit little-endian ELF file');
    const shoff = Number(header.readBigUInt64LE(0x28));
    const shentsize = header.readUInt16LE(0x3a);
    const shnum = header.readUInt16LE(0x3c);
    if (shoff === 0 || shnum === 0 || shentsize < 64) throw new ElfError(file, 'no section headers');
    const sections = readAt(fd, shoff, shnum * shentsize);
    if (sections.length < shnum * shentsize) throw new ElfError(file, 'truncated section headers');
    const section = (i: number) => {
      const at = i * shentsize;
      return {
        type: sections.readUInt32LE(at + 4),
        offset: Number(sections.readBigUInt64LE(at + 0x18)),
        size: Number(sections.readBigUInt64LE(at + 0x20)),
        link: sections.readUInt32LE(at + 0x28),
      };
    };
    const out: ElfDynamic = { needed: [], runpath: [] };
    let dynamic = -1;
    for (let i = 0; i < shnum; i++) if (section(i).type === SHT_DYNAMIC) dynamic = i;
    if (dynamic < 0) return out; // a static object needs nothing
    const dyn = section(dynamic);
    const strtab = section(dyn.link);
    const entries = readAt(fd, dyn.offset, dyn.size);
    const strings = readAt(fd, strtab.offset, strtab.size);
    const str = (at: bigint) => {
      const start = Number(at);
      const end = strings.indexOf(0, start);
      if (start >= strings.length || end < 0) throw new ElfError(file, 'string outside .dynstr');
      return strings.toString('utf8', start, end);
    };
    let rpath: string[] = [];
    for (let at = 0; at + 16 <= entries.length; at += 16) {
      const tag = entries.readBigInt64LE(at);
      const val = entries.readBigUInt64LE(at + 8);
      if (tag === 0n) break;
      if (tag === DT_NEEDED) out.needed.push(str(val));
      else if (tag === DT_SONAME) out.soname = str(val);
      else if (tag === DT_RUNPATH) out.runpath = str(val).split(':').filter(Boolean);
      else if (tag === DT_RPATH) rpath = str(val).split(':').filter(Boolean);
    }
    if (out.runpath.length === 0) out.runpath = rpath;
    return out;
  } finally {
    closeSync(fd);
  }
}
