// Minimal typing for picomatch 4 (no @types package installed); only what ingest uses.
declare module 'picomatch' {
  interface PicomatchOptions {
    dot?: boolean
    nocase?: boolean
  }
  function picomatch(glob: string | string[], options?: PicomatchOptions): (path: string) => boolean
  export default picomatch
}
