// A small Lambda runtime interface client for Node.js, used by the local endpoint to
// host a Node.js handler as AWS runs it: it loads `_HANDLER` (`file.export`, relative to
// LAMBDA_TASK_ROOT; .js, .mjs or .cjs), then polls the Runtime API at
// AWS_LAMBDA_RUNTIME_API for events and posts each answer back. Standard library only.
"use strict";

const http = require("http");
const path = require("path");
const fs = require("fs");
const url = require("url");

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const BASE = "/2018-06-01/runtime";
let currentRequestId;

function request(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: Number(PORT), path: BASE + route, method, agent, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      }
    );
    req.on("error", reject);
    req.end(body);
  });
}

// A kept-alive connection the server closed is retried on a fresh one.
async function call(method, route, body, headers) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request(method, route, body, headers);
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

function post(route, doc, extraHeaders) {
  const body = Buffer.from(typeof doc === "string" ? doc : JSON.stringify(doc));
  const headers = Object.assign({ "Content-Type": "application/json", "Content-Length": body.length }, extraHeaders);
  return call("POST", route, body, headers);
}

// The error document AWS's Node.js runtime posts.
function toRapidResponse(error) {
  try {
    if (error instanceof Error || (error && typeof error.message === "string" && typeof error.stack === "string")) {
      return { errorType: error.name, errorMessage: error.message, trace: String(error.stack).split("\n") };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return { errorType: "handled", errorMessage: "the error could not be read" };
  }
}

function runtimeError(name, message) {
  const e = new Error(message);
  e.name = "Runtime." + name;
  return e;
}

async function postInitError(error) {
  const doc = toRapidResponse(error);
  console.error(JSON.stringify(doc));
  await post("/init/error", doc, { "Lambda-Runtime-Function-Error-Type": doc.errorType });
  process.exit(129);
}

function resolveModule(root, name) {
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const file = path.resolve(root, name + ext);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

async function loadModule(file) {
  if (file.endsWith(".mjs")) return import(url.pathToFileURL(file).href);
  try {
    return require(file);
  } catch (e) {
    if (e && e.code === "ERR_REQUIRE_ESM") return import(url.pathToFileURL(file).href);
    throw e;
  }
}

async function loadHandler() {
  const handler = process.env._HANDLER || "";
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const slash = handler.lastIndexOf("/") + 1;
  const dot = handler.indexOf(".", slash);
  if (dot < 0) throw runtimeError("MalformedHandlerName", "Bad handler");
  const moduleName = handler.slice(0, dot);
  const file = resolveModule(root, moduleName);
  if (!file) throw runtimeError("ImportModuleError", `Error: Cannot find module '${moduleName}'`);
  let mod;
  try {
    mod = await loadModule(file);
  } catch (e) {
    if (e instanceof SyntaxError) throw runtimeError("UserCodeSyntaxError", String(e));
    if (e && e.code === "MODULE_NOT_FOUND") throw runtimeError("ImportModuleError", String(e));
    throw e;
  }
  let fn = mod;
  for (const part of handler.slice(dot + 1).split(".")) fn = fn == null ? undefined : fn[part];
  if (typeof fn !== "function") {
    throw runtimeError("HandlerNotFound", `${handler} is undefined or not exported`);
  }
  return fn;
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"]);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// Run the handler: a promise it returns, or the callback it calls, whichever settles first.
function run(handler, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err, value) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(value);
    };
    ctx.done = settle;
    ctx.succeed = (value) => settle(null, value);
    ctx.fail = (err) => settle(err === undefined || err === null ? "handled" : err);
    const result = handler(event, ctx, settle);
    if (result && typeof result.then === "function") result.then((v) => settle(null, v), (e) => settle(e));
    // As AWS's Node.js runtime: a value a non-async handler returns is not the answer;
    // without a callback or context.succeed, the answer is null.
    else if (handler.length < 3) setImmediate(() => settle(null, null));
  });
}

async function invoke(handler, next) {
  const headers = next.headers;
  const id = headers["lambda-runtime-aws-request-id"];
  currentRequestId = id;
  process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"] || "";
  try {
    const event = JSON.parse(next.body.toString("utf8"));
    const result = await run(handler, event, context(headers));
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      throw runtimeError("MarshalError", "Unable to stringify response body");
    }
    await post(`/invocation/${id}/response`, body);
  } catch (e) {
    const doc = toRapidResponse(e);
    console.error(`Invoke Error \t${JSON.stringify(doc)}`);
    await post(`/invocation/${id}/error`, doc, { "Lambda-Runtime-Function-Error-Type": doc.errorType });
  } finally {
    currentRequestId = undefined;
  }
}

function patchConsole() {
  const format = require("util").format;
  const log = (level) => (...args) => {
    const line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${format(...args)}`;
    process.stdout.write(line.replace(/\n/g, "\r") + "\n");
  };
  console.log = console.info = log("INFO");
  console.warn = log("WARN");
  console.error = log("ERROR");
  console.debug = log("DEBUG");
  console.trace = log("TRACE");
}

// An exception nothing caught, inside an invocation: its error, then a new environment.
async function uncaught(error) {
  const doc = toRapidResponse(error);
  console.error(`Uncaught Exception \t${JSON.stringify(doc)}`);
  if (currentRequestId) {
    await post(`/invocation/${currentRequestId}/error`, doc, { "Lambda-Runtime-Function-Error-Type": doc.errorType })
      .catch(() => {});
  }
  process.exit(129);
}

async function main() {
  patchConsole();
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    return postInitError(e);
  }
  process.on("uncaughtException", uncaught);
  process.on("unhandledRejection", (reason) => uncaught(reason instanceof Error ? reason : new Error(String(reason))));
  for (;;) {
    const next = await call("GET", "/invocation/next");
    if (next.status !== 200) {
      console.error(`the Runtime API answered ${next.status} to next`);
      process.exit(1);
    }
    await invoke(handler, next);
  }
}

main();
