/** solc-js ships no type declarations; this is the one function the compile step uses. */
declare module 'solc' {
  const solc: { compile(input: string): string; version(): string };
  export default solc;
}
