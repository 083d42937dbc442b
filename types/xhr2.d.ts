// xhr2 (0.2) ships no declarations: it is XMLHttpRequest for Node, which the tests hand to
// dicomweb-client (a browser library) as the global it expects.
declare module 'xhr2' {
  const XMLHttpRequest: unknown;
  export default XMLHttpRequest;
}
