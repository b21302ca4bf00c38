// fnd in-container bootstrap for the `node` runtime (the Node.js twin of bootstrap.py).
//
// Contract (see DESIGN.md, "Function contract"):
//   /usr/bin/node /fnd/runtime/bootstrap.js
//   /usr/bin/node /fnd/runtime/bootstrap.js --stem      a stem cell (docs/stem-cell-protocol.md)
//   cwd and code dir: $FN_CODE_DIR (default /function, read-only)
//   env: PORT (default 8080), FN_HANDLER, FN_NAME, FN_REVISION, plus the user's env.
//
// Startup: load the handler first, then listen on $PORT. The daemon treats "accepts on
// $PORT" as ready, so a function that cannot load must never accept: it prints
// "fnd bootstrap: cannot load handler ..." plus the stack and exits with status 1.
//
// FN_HANDLER = "file.export": everything before the last dot is a path relative to the code
// dir ("index", "lib/util"), tried as .js, .mjs, .cjs. .mjs is loaded with import(), .js and
// .cjs with require() (a .js that turns out to be an ES module falls back to import()).
//
// Serving: node's http module, HTTP/1.1 with keep-alive. fn(req) is called with req.method,
// req.path (no query), req.query (object, last value wins), req.headers (lowercase keys,
// repeated fields joined with ", "), req.body (Buffer); it may return a promise. Return
// string -> text/plain, Buffer/Uint8Array -> octet-stream, plain object/array -> JSON,
// undefined/null -> 204, or {status, body, headers} (recognised by a numeric `status`).
// A throw -> 500 "function raised Name: message", stack on stderr. Every response carries
// Content-Length (204/304 carry no body). SIGTERM exits with status 0.
//
// Cold-start time matters, so this file needs only node core modules, and `url` (for
// import()) and `util` (for odd thrown values) load only when needed.

'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const KEEP_ALIVE_TIMEOUT_MS = 65_000;
// Larger than the keep-alive timeout, so an idle connection is always closed by the
// keep-alive timer (cleanly, between requests) rather than by the headers timer.
const HEADERS_TIMEOUT_MS = 66_000;
const MAX_HEADER_BYTES = 64 * 1024;   // request line + headers, as in bootstrap.py (431)
const SHUTDOWN_GRACE_MS = 100;        // in-flight responses get this long after SIGTERM
const LISTEN_BACKLOG = 128;
const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs'];
const TEXT_PLAIN = 'text/plain; charset=utf-8';
const EMPTY = Buffer.alloc(0);
const RESPONSE_KEYS = new Set(['status', 'body', 'headers']);

// We compute framing ourselves; a handler must not be able to contradict it.
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

// Marks problems the bootstrap itself detected: their stack would only show our own frames.
const kOwnError = Symbol('fnd.ownError');

// ---------------------------------------------------------------------------- logging

function log(text) {
  // One write per message: stderr is a pipe, and node writes pipes synchronously on Linux,
  // so lines are neither interleaved nor lost when we exit right after.
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

function isErrorLike(value) {
  return value !== null && typeof value === 'object' && typeof value.message === 'string';
}

/** 'Name: message', or just 'Name' when the message is empty. */
function describe(value) {
  if (!isErrorLike(value)) {
    // `throw "oops"` is legal JavaScript; say what was thrown rather than crash on it.
    const { inspect } = require('util');
    return `non-Error value ${inspect(value, { depth: 1, breakLength: Infinity })}`;
  }
  const name = typeof value.name === 'string' && value.name ? value.name : 'Error';
  return value.message ? `${name}: ${value.message}` : name;
}

/** '\n' + the stack, or '' when there is none (a thrown string has no stack). */
function stackSuffix(value) {
  return isErrorLike(value) && typeof value.stack === 'string' ? `\n${value.stack}` : '';
}

function ownError(message, Type = Error, code = undefined) {
  const err = new Type(message);
  err[kOwnError] = true;
  if (code) err.code = code;
  return err;
}

/** A name for error messages: 'null', 'number', 'Map', ... */
function typeName(value) {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value.constructor?.name || 'object';
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function setOwn(object, key, value) {
  // Plain assignment to "__proto__" would replace the prototype instead of adding a key.
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

// ---------------------------------------------------------------------------- loading

function parseHandlerSpec(spec) {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1) {
    throw ownError("FN_HANDLER must be 'file.export' (e.g. index.handle)");
  }
  return { file: spec.slice(0, dot), exportName: spec.slice(dot + 1) };
}

function isFile(file) {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true;
}

/** The module file for `file` ("lib/util" -> /function/lib/util.js, .mjs or .cjs). */
function findModuleFile(codeDir, file) {
  const base = path.resolve(codeDir, file);
  const candidates = MODULE_EXTENSIONS.map((ext) => base + ext);
  // "index.mjs.handle" names the file exactly; harmless to allow.
  if (MODULE_EXTENSIONS.includes(path.extname(base))) candidates.push(base);
  const found = candidates.find(isFile);
  if (found) return found;
  const tried = MODULE_EXTENSIONS.map((ext) => path.basename(base) + ext).join(', ');
  throw ownError(`Cannot find module '${base}' (tried ${tried})`, Error, 'MODULE_NOT_FOUND');
}

function importModule(file) {
  const { pathToFileURL } = require('url');  // only ES-module functions pay for it
  return import(pathToFileURL(file).href);
}

/** The module's exports (CommonJS) or namespace (ESM); may be a promise. */
function loadModule(file) {
  if (file.endsWith('.mjs')) return importModule(file);
  try {
    return require(file);
  } catch (err) {
    // A .js under "type": "module" is an ES module: node 20 refuses to require() it, newer
    // nodes refuse only those with top-level await.
    if (err?.code === 'ERR_REQUIRE_ESM' || err?.code === 'ERR_REQUIRE_ASYNC_MODULE') {
      return importModule(file);
    }
    throw err;
  }
}

function lookupExport(mod, name) {
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return undefined;
  const value = mod[name];
  // "index.constructor" or "index.call" must not find Object's or Function's own methods.
  if (!Object.hasOwn(mod, name) &&
      (value === Object.prototype[name] || value === Function.prototype[name])) {
    return undefined;
  }
  return value;
}

function describeExports(mod) {
  if (typeof mod === 'function') return 'module.exports is itself a function';
  const names = mod !== null && typeof mod === 'object' ? Object.keys(mod) : [];
  if (names.length === 0) return 'it exports nothing';
  const shown = names.slice(0, 10).join(', ');
  return `its exports: ${shown}${names.length > 10 ? ', ...' : ''}`;
}

function getExport(mod, exportName, spec, file) {
  const fn = lookupExport(mod, exportName);
  if (fn === undefined) {
    throw ownError(`${file} has no export '${exportName}' (${describeExports(mod)})`, TypeError);
  }
  if (typeof fn !== 'function') {
    throw ownError(`${spec} is not a function (it is ${typeName(fn)})`, TypeError);
  }
  return fn;
}

/** chdir into the code dir and return its absolute path (a relative one would go stale). */
function enterCodeDir(codeDir) {
  const absolute = path.resolve(codeDir);
  try {
    process.chdir(absolute);
  } catch (err) {
    throw ownError(`cannot enter code dir: ${describe(err)}`);
  }
  return absolute;
}

/** Resolves to invoke(request) -> {status, headers, body}. */
async function loadHandler(spec, codeDir) {
  codeDir = enterCodeDir(codeDir);
  const { file, exportName } = parseHandlerSpec(spec);
  const moduleFile = findModuleFile(codeDir, file);
  const mod = await loadModule(moduleFile);
  const fn = getExport(mod, exportName, spec, moduleFile);
  // Called as a method, like `mod.handle(req)`, so `this` is what the author expects.
  return (request) => callHandler(fn, mod, request);
}

function reportLoadFailure(spec, err) {
  log(`fnd bootstrap: cannot load handler '${spec}': ${describe(err)}`);
  if (lacksLocation(err)) {
    exitWithNodeReport(err);
    return;
  }
  // The stack of an error we raised ourselves would show only bootstrap frames.
  if (!err?.[kOwnError]) log(stackSuffix(err).slice(1));
  process.exit(1);
}

/** A SyntaxError from compiling an ES module: its stack has only node-internal frames and
 *  names neither the file nor the line (a CommonJS one starts with "file:line" and a caret). */
function lacksLocation(err) {
  if (!(err instanceof SyntaxError) || typeof err.stack !== 'string') return false;
  const frames = err.stack.split('\n').filter((line) => /^\s+at /.test(line));
  return frames.every((line) => line.includes('(node:internal/'));
}

function exitWithNodeReport(err) {
  // node keeps the location of such an error aside and prints it, with the source line and
  // a caret, only in its fatal-exception report. So rethrow it uncaught: node prints that
  // report and exits with status 1.
  process.removeAllListeners('uncaughtException');  // the function's must not swallow it
  try {
    process.setUncaughtExceptionCaptureCallback(null);
  } catch {
    // a domain owns the callback; it does not catch errors thrown from here
  }
  process.exitCode = 1;
  process.nextTick(() => { throw err; });  // outside the promise chain: a plain uncaught throw
}

// ---------------------------------------------------------------------------- calling

async function callHandler(fn, thisArg, request) {
  let result;
  try {
    result = await fn.call(thisArg, request);
  } catch (err) {
    log(`fnd bootstrap: function raised ${describe(err)}${stackSuffix(err)}`);
    return textResponse(500, `function raised ${describe(err)}`);
  }
  try {
    return responseFromResult(result);
  } catch (err) {
    log(`fnd bootstrap: function returned an invalid value: ${describe(err)}`);
    return textResponse(500, `function returned an invalid value: ${describe(err)}`);
  }
}

function textResponse(status, message) {
  return { status, headers: [['Content-Type', TEXT_PLAIN]], body: Buffer.from(message) };
}

/** Map a handler's return value to {status, headers: [[name, value]...], body: Buffer}. */
function responseFromResult(result) {
  if (result === undefined || result === null) return { status: 204, headers: [], body: EMPTY };
  if (isPlainObject(result) && typeof result.status === 'number') return responseFromObject(result);
  const [contentType, body] = encodeBody(result);
  return { status: 200, headers: [['Content-Type', contentType]], body };
}

function responseFromObject(result) {
  for (const key of Object.keys(result)) {
    // Loud rather than silently dropping data, e.g. {status: 404, error: "..."}.
    if (!RESPONSE_KEYS.has(key)) {
      throw new TypeError(`unexpected key '${key}' in a {status, body, headers} result ` +
                          '(to return such an object as JSON, use {status: 200, body: obj})');
    }
  }
  const { status, body: value } = result;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new TypeError(`status must be an integer in 200..599, not ${status}`);
  }
  const headers = normalizeHeaders(result.headers);
  if (value === undefined || value === null) return { status, headers, body: EMPTY };
  const [contentType, body] = encodeBody(value);
  if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
    headers.unshift(['Content-Type', contentType]);
  }
  return { status, headers, body };
}

/** Map a body value to [contentType, Buffer]. */
function encodeBody(value) {
  if (typeof value === 'string') return [TEXT_PLAIN, Buffer.from(value)];
  if (Buffer.isBuffer(value)) return ['application/octet-stream', value];
  if (ArrayBuffer.isView(value)) {
    return ['application/octet-stream', Buffer.from(value.buffer, value.byteOffset, value.byteLength)];
  }
  if (value instanceof ArrayBuffer) return ['application/octet-stream', Buffer.from(value)];
  if (Array.isArray(value) || isPlainObject(value)) {
    const json = JSON.stringify(value);  // throws on cycles and BigInt: an invalid value
    if (json === undefined) throw new TypeError('body has a toJSON() that returned undefined');
    return ['application/json', Buffer.from(json)];
  }
  throw new TypeError(`unsupported body type ${typeName(value)} (expected string, Buffer, ` +
                      'Uint8Array, plain object, array, null or undefined)');
}

/** Accept an object ({name: value or [values]}) or [name, value] pairs (a Map, Headers, ...). */
function normalizeHeaders(headers) {
  if (headers === undefined || headers === null) return [];
  let entries;
  if (isPlainObject(headers)) {
    entries = Object.entries(headers);
  } else if (typeof headers === 'object' && typeof headers[Symbol.iterator] === 'function') {
    entries = Array.from(headers);
  } else {
    throw new TypeError(`headers must be an object or [name, value] pairs, not ${typeName(headers)}`);
  }
  const result = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new TypeError('headers must be an object or [name, value] pairs');
    }
    const [name, value] = entry;
    for (const item of Array.isArray(value) ? value : [value]) {
      const text = headerValueText(name, item);
      // Validate now: a bad header must become a 500, not an exception half-way through
      // writing the response.
      http.validateHeaderName(name);
      http.validateHeaderValue(name, text);
      if (!FRAMING_HEADERS.has(name.toLowerCase())) result.push([name, text]);
    }
  }
  return result;
}

function headerValueText(name, value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value);
  }
  throw new TypeError(`invalid value for header '${name}': expected a string or a number, ` +
                      `not ${typeName(value)}`);
}

// ---------------------------------------------------------------------------- requests

/** Return [path, queryString]. Absolute-form targets are reduced to their path. */
function splitTarget(target) {
  if (target.startsWith('http://') || target.startsWith('https://')) {
    const slash = target.indexOf('/', target.indexOf('//') + 2);
    target = slash >= 0 ? target.slice(slash) : '/';
  }
  const question = target.indexOf('?');
  return question < 0 ? [target, ''] : [target.slice(0, question), target.slice(question + 1)];
}

function parseQuery(queryString) {
  const query = {};
  if (queryString) {
    // URLSearchParams decodes '+' and %XX as UTF-8, keeping a stray '%' literally.
    for (const [name, value] of new URLSearchParams(queryString)) setOwn(query, name, value);
  }
  return query;
}

/** Lowercase-keyed object; repeated fields are joined with ", " (RFC 9110 5.3), as in
 *  bootstrap.py. (node's own req.headers drops some duplicates and makes set-cookie a list.) */
function collectHeaders(rawHeaders) {
  const headers = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1];
    setOwn(headers, name, Object.hasOwn(headers, name) ? `${headers[name]}, ${value}` : value);
  }
  return headers;
}

function readBody(httpReq) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    httpReq.on('data', (chunk) => { chunks.push(chunk); size += chunk.length; });
    httpReq.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    httpReq.on('error', reject);
    httpReq.on('close', () => { if (!httpReq.complete) reject(new Error('request aborted')); });
  });
}

function buildRequest(httpReq, body) {
  const [path, queryString] = splitTarget(httpReq.url);
  return {
    method: httpReq.method,
    path,
    query: parseQuery(queryString),
    headers: collectHeaders(httpReq.rawHeaders),
    body,
  };
}

// ---------------------------------------------------------------------------- responses

function sendResponse(res, { status, headers, body }) {
  res.statusCode = status;
  // Repeated names (Set-Cookie) go out as one setHeader call with a list of values.
  const grouped = new Map();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    if (grouped.has(key)) grouped.get(key)[1].push(value);
    else grouped.set(key, [name, [value]]);
  }
  for (const [name, values] of grouped.values()) {
    res.setHeader(name, values.length === 1 ? values[0] : values);
  }
  if (status === 204 || status === 304) {
    res.end();  // these must carry neither a body nor Content-Length (RFC 9110 8.6)
    return;
  }
  res.setHeader('Content-Length', body.length);
  res.end(body);  // node omits the body itself for HEAD
}

async function serveRequest(httpReq, res, invoke) {
  let body;
  try {
    body = await readBody(httpReq);
  } catch {
    return;  // the client went away mid-body; nothing to answer
  }
  sendResponse(res, await invoke(buildRequest(httpReq, body)));
}

function failRequest(res, err) {
  log(`fnd bootstrap: internal error: ${describe(err)}${stackSuffix(err)}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  sendResponse(res, textResponse(500, `cannot run handler: ${describe(err)}`));
}

// ---------------------------------------------------------------------------- main

function parsePort(text) {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65535) throw new Error(`invalid PORT '${text}'`);
  return port;
}

function startServer(port, invoke) {
  const server = http.createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    noDelay: true,
    requireHostHeader: false,  // bootstrap.py accepts requests without Host too
    requestTimeout: 0,         // no cap on receiving a body: the daemon enforces the timeout
  }, (httpReq, res) => {
    serveRequest(httpReq, res, invoke).catch((err) => failRequest(res, err));
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.on('error', (err) => {
    if (!server.listening) {
      log(`fnd bootstrap: cannot listen on port ${port}: ${describe(err)}`);
      process.exit(1);
    }
    log(`fnd bootstrap: accept failed: ${describe(err)}`);  // e.g. EMFILE: keep serving
  });
  // 0.0.0.0: the container's network namespace has only loopback, so this exposes nothing.
  server.listen({ port, host: '0.0.0.0', backlog: LISTEN_BACKLOG });
  return server;
}

function stop(state) {
  if (state.stopping) return;
  state.stopping = true;
  if (!state.server) process.exit(0);
  // server.close() also drops idle keep-alive connections; busy ones get a short grace
  // period, since waiting for them could take as long as the function's timeout.
  state.server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS);
}

function main() {
  if (process.argv[2] === '--stem') {
    stemMain();
    return;
  }
  const state = { server: null, stopping: false };
  process.on('SIGTERM', () => stop(state));
  serve(state, process.env.FN_HANDLER ?? '', () => {});
}

/** Loads the handler, then listens on $PORT; `onListening` runs once it does. */
function serve(state, spec, onListening) {
  let port;
  try {
    port = parsePort(process.env.PORT ?? '8080');
  } catch (err) {
    log(`fnd bootstrap: ${err.message}`);
    process.exit(1);
  }
  const codeDir = process.env.FN_CODE_DIR ?? '/function';
  loadHandler(spec, codeDir).then(
    (invoke) => {
      if (state.stopping) return;
      state.server = startServer(port, invoke);
      state.server.once('listening', onListening);
    },
    (err) => reportLoadFailure(spec, err));
}

// ---------------------------------------------------------------------------- stem cells

const CONTROL_FD = 3;

/**
 * Sends one request through our own HTTP server code on a throwaway port. A new node process
 * spends several milliseconds on its first request (lazily loaded internals, cold code); a
 * stem cell pays that before any function arrives instead of on the function's first request.
 */
async function warmUp() {
  const invoke = async () => textResponse(200, 'ok');
  const server = startServer(0, invoke);
  await new Promise((resolve) => server.once('listening', resolve));
  await new Promise((resolve) => {
    const request = http.request({ host: '127.0.0.1', port: server.address().port, method: 'POST', path: '/?a=b',
                                   agent: false }, (response) => {
      response.resume();
      response.on('end', resolve);
    });
    request.on('error', resolve);  // a failed warm-up only costs the time it saves
    request.end('{}');
  });
  await new Promise((resolve) => server.close(resolve));
}
const MAX_CONTROL_MESSAGE = 1 << 20;

/**
 * A stem cell: node is up before any function exists. fd 3 is the daemon's control socket
 * (AF_UNIX, SOCK_SEQPACKET: one message per write). We write "ready"; one message then gives us
 * a function, {"handler": string, "env": {string: string}}, whose code the daemon has mounted
 * at /function by then. We write "ok" once listening on $PORT, or report why the handler cannot
 * load and exit 1 (the daemon reads our stderr). A cell serves that one function until it is
 * stopped; it never gets another.
 */
async function stemMain() {
  await warmUp();
  // Until a function arrives SIGTERM keeps its default action: the blocking read below would
  // otherwise hold a JavaScript handler back until the daemon's SIGKILL.
  fs.writeSync(CONTROL_FD, 'ready');
  const buffer = Buffer.alloc(MAX_CONTROL_MESSAGE);
  const length = fs.readSync(CONTROL_FD, buffer, 0, buffer.length, null);
  if (length === 0) process.exit(0);  // the daemon stopped before giving us a function
  const order = JSON.parse(buffer.toString('utf8', 0, length));
  for (const [name, value] of Object.entries(order.env)) process.env[name] = value;
  const state = { server: null, stopping: false };
  process.on('SIGTERM', () => stop(state));
  serve(state, order.handler, () => fs.writeSync(CONTROL_FD, 'ok'));
}

main();
