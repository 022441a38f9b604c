#!/usr/bin/env node
// Runs the telegram-test-api Bot API emulator (pinned in package.json) for duban's end-to-end tests.
//
//   node tests/e2e/emulator_server.js [PORT]        (or env TELEGRAM_EMULATOR_PORT; default 9000)
//
// Env: TELEGRAM_EMULATOR_HOST (default 127.0.0.1), TELEGRAM_EMULATOR_STORE_TIMEOUT (seconds the
// emulator keeps messages in RAM; default 3600, the package's own default of 60 s is shorter
// than a slow test run).
//
// Prints one line "READY http://HOST:PORT" on stdout once it listens; stops cleanly on
// SIGTERM/SIGINT. Bot API:  http://HOST:PORT/bot<token>/<method>
// Client API (a test playing the user): POST /sendMessage, /sendCommand, /sendCallback,
// /getUpdates, /getUpdatesHistory, plus the two additions below.
//
// Additions to the stock emulator, made through the package's own route table (each route is
// `(app, telegramServer) => void`; routes registered first see the request first):
//  * answerCallbackQuery calls are recorded and served to the client at POST /getCallbackAnswers
//    {token} -> {ok, result: [{callback_query_id, text, show_alert, url, cache_time, time}]},
//    because the stock emulator forgets them, so a test could not see a button's toast/alert.
//  * editMessageText without reply_markup removes the stored inline keyboard, as Telegram does
//    (the stock emulator merges the edit into the stored message and keeps the old buttons).
// Both hand the request on (next()) to the stock handler, which still writes the answer.
'use strict';

const TelegramServer = require('telegram-test-api'); // module.exports is the class
const { routes } = require('telegram-test-api/lib/routes/index');

const port = Number(process.argv[2] || process.env.TELEGRAM_EMULATOR_PORT || 9000);
const host = process.env.TELEGRAM_EMULATOR_HOST || '127.0.0.1';
const storeTimeout = Number(process.env.TELEGRAM_EMULATOR_STORE_TIMEOUT || 3600);

if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  // port 0 is not possible: the package turns a falsy port into 9000
  console.error(`emulator_server: bad port ${process.argv[2] || process.env.TELEGRAM_EMULATOR_PORT}`);
  process.exit(2);
}

const callbackAnswers = {}; // bot token -> [answer, ...]

routes.unshift((app) => {
  app.post('/bot:token/answerCallbackQuery', (req, res, next) => {
    const body = req.body || {};
    (callbackAnswers[req.params.token] ||= []).push({
      callback_query_id: body.callback_query_id,
      text: body.text,
      show_alert: body.show_alert === true || body.show_alert === 'true',
      url: body.url,
      cache_time: body.cache_time === undefined ? undefined : Number(body.cache_time),
      time: Date.now(),
    });
    next();
  });
  app.post('/bot:token/editMessageText', (req, res, next) => {
    if (req.body && !('reply_markup' in req.body)) {
      req.body.reply_markup = undefined; // the stock merge then drops the old keyboard
    }
    next();
  });
  app.post('/getCallbackAnswers', (req, res) => {
    const token = req.body && req.body.token;
    res.json({ ok: true, result: callbackAnswers[token] || [] });
  });
});

// A malformed client request (e.g. /sendCommand without `entities`) makes the package reject a
// promise nobody awaits; Node would then kill the whole emulator. Log it and keep serving.
process.on('unhandledRejection', (reason) => {
  console.error(`emulator_server: unhandled rejection: ${reason && reason.stack ? reason.stack : reason}`);
});

const server = new TelegramServer({ port, host, storeTimeout });

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  // http-shutdown waits for open requests; do not hang forever on a stuck client
  setTimeout(() => process.exit(0), 3000).unref();
  try {
    await server.stop();
    console.log(`STOPPED (${signal})`);
    process.exit(0);
  } catch (err) {
    console.error(`emulator_server: stop failed: ${err}`);
    process.exit(1);
  }
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

server.start().then(
  () => console.log(`READY ${server.config.apiURL}`),
  (err) => {
    console.error(`emulator_server: cannot listen on ${host}:${port}: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
