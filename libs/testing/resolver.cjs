// Jest resolver: sources import each other as './x.js' (ESM, NodeNext) while the files are
// './x.ts'. Resolve as Node would first; only a relative '.js' that does not exist is tried
// as '.ts'. (A moduleNameMapper stripping '.js' also rewrote requires inside node_modules,
// which broke Fastify's hook wiring under Jest.)
module.exports = (request, options) => {
  try {
    return options.defaultResolver(request, options);
  } catch (e) {
    if (/^\.{1,2}\/.*\.js$/.test(request)) return options.defaultResolver(request.replace(/\.js$/, '.ts'), options);
    throw e;
  }
};
