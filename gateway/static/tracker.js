/*! configtrail tracker.js: session and interaction tracking for product configurators.
 *
 * Dependency-free, plain ES2017, no build step. Served by the configtrail gateway at /tracker.js.
 *
 *   configtrail.init({endpoint, writeKey, consent, batchSize, flushIntervalMs, maxQueue})
 *   configtrail.track('selection', {category, elementId, selectionValue, previousValue, timeSpent, additionalData})
 *   configtrail.track('custom', {name: 'configurator_reset'})
 *   configtrail.snapshot(configuration, totalPriceMinor, 'EUR', completionPercentage, 'auto_save')
 *   configtrail.setConsent(false)   configtrail.flush()   configtrail.getSessionId()   configtrail.status()
 *
 * Further init options, for tuning and tests: currency, requestTimeoutMs, slowResponseMs, baseBackoffMs,
 * maxBackoffMs, breakerThreshold, breakerCooldownMs, breakerMaxCooldownMs, beaconBytes (see DEFAULTS).
 *
 * How it behaves:
 * - track() and snapshot() only append to an in-memory queue; serialisation, storage and sending happen
 *   later in timers and idle callbacks. Batches go to POST /api/batch every flushIntervalMs or as soon as
 *   batchSize items wait.
 * - The queue is kept in localStorage (at most maxQueue items, oldest dropped first), so what could not be
 *   sent is sent by the next page of the site, also one opened later in another tab.
 * - Every record carries a client-made id (eventId, snapshotId): the server stores a record once however
 *   often it is sent. That is what makes retries and the page-exit beacon safe: items stay queued until an
 *   answer says what became of them.
 * - Network errors, 429 and 5xx are retried with exponential backoff and jitter (Retry-After honoured); a
 *   circuit breaker pauses sending after repeated failures or slow answers and then probes with one batch.
 *   Anything else the gateway refuses (an item "rejected" in the batch answer, or a 4xx for the request)
 *   is dropped with a console warning, never retried.
 * - On pagehide and when the page is hidden: a page_exit snapshot of the last configuration given to
 *   snapshot(), and the queue sent with navigator.sendBeacon (text/plain, write key as ?key=).
 * - With consent false nothing is stored or sent, and whatever was queued or stored is deleted.
 * - No public function throws into the page.
 */
(function () {
  'use strict';

  var w = typeof window !== 'undefined' ? window : null;
  if (!w || (w.configtrail && w.configtrail.version)) {
    return; // not a browser, or loaded twice: keep the first
  }

  var VERSION = '1.0.0';
  var PREFIX = 'configtrail:';
  var QUEUE_PREFIX = PREFIX + 'queue:';
  var SESSION_KEY = PREFIX + 'session';
  var EVENT_TYPES = ['click', 'hover', 'selection', 'scroll', 'custom'];
  var TRIGGERS = ['auto_save', 'page_exit', 'order_attempt', 'manual'];
  var DEFAULTS = {
    endpoint: null, // default: where this script was loaded from
    writeKey: '',
    consent: true,
    batchSize: 20,
    flushIntervalMs: 2000,
    maxQueue: 500,
    currency: 'EUR',
    requestTimeoutMs: 10000,
    slowResponseMs: 4000, // an answer slower than this counts against the gateway (circuit breaker)
    baseBackoffMs: 500,
    maxBackoffMs: 30000,
    breakerThreshold: 5, // consecutive failures or slow answers that open the breaker
    breakerCooldownMs: 15000, // first pause; doubles while probes fail, up to breakerMaxCooldownMs
    breakerMaxCooldownMs: 300000,
    beaconBytes: 60000, // browsers allow about 64 KiB of beacons in flight per page
  };

  var scriptOrigin = (function () {
    try {
      var script = document.currentScript;
      return script && script.src ? new URL(script.src, location.href).origin : location.origin;
    } catch (e) {
      return '';
    }
  })();

  // --- state ---------------------------------------------------------------------------------------
  var cfg = null;
  var consent = false;
  var consentBeforeInit = null;
  var session = null; // {id, seq, started}
  var queue = []; // items not yet answered for, oldest first
  var loaded = false; // stored queues read into `queue`
  var batchLimit = 20; // lowered after a 413 (body too large)
  var inFlight = null; // the send in progress (a Promise)
  var timer = 0;
  var timerAt = 0;
  var persistScheduled = false;
  var failures = 0; // consecutive retryable failures: the backoff exponent
  var strikes = 0; // consecutive failures or slow answers: the breaker's count
  var breaker = 'closed'; // closed → open (paused) → half-open (one probe) → closed | open
  var openUntil = 0;
  var cooldown = 0;
  var retryAt = 0;
  var lastSnapshot = null;
  var activity = false; // something happened since the last page_exit snapshot
  var viewport = { width: 0, height: 0 };
  var warned = {};
  var counters = { attempts: 0, accepted: 0, rejected: 0, dropped: 0, failures: 0, beacons: 0 };
  var beaconed = {}; // ids of the items this page already handed to a beacon

  // --- small helpers -------------------------------------------------------------------------------
  function now() {
    return Date.now();
  }

  function warn(message, detail) {
    try {
      if (detail === undefined) {
        console.warn('[configtrail] ' + message);
      } else {
        console.warn('[configtrail] ' + message, detail);
      }
    } catch (e) {
      // no console: nothing to do
    }
  }

  function warnOnce(key, message, detail) {
    if (!warned[key]) {
      warned[key] = true;
      warn(message, detail);
    }
  }

  function uuid() {
    var c = w.crypto;
    if (c && typeof c.randomUUID === 'function') {
      return c.randomUUID(); // only in secure contexts (https, localhost)
    }
    var bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === 'function') {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = '';
    for (var j = 0; j < 16; j++) {
      hex += (bytes[j] + 0x100).toString(16).slice(1);
      if (j === 3 || j === 5 || j === 7 || j === 9) {
        hex += '-';
      }
    }
    return hex;
  }

  function later(fn) {
    if (typeof w.requestIdleCallback === 'function') {
      w.requestIdleCallback(fn, { timeout: 1000 });
    } else {
      setTimeout(fn, 50);
    }
  }

  function storage(name) {
    try {
      return w[name] || null; // reading the property throws where storage is blocked
    } catch (e) {
      return null;
    }
  }

  function text(value) {
    return value === undefined || value === null ? '' : String(value);
  }

  function setText(target, name, value) {
    var s = text(value);
    if (s) {
      target[name] = s;
    }
  }

  function deviceType(width) {
    if (!width) {
      return 'other';
    }
    return width < 768 ? 'mobile' : width < 1024 ? 'tablet' : 'desktop';
  }

  function readViewport() {
    viewport.width = Math.max(0, Math.round(w.innerWidth || 0));
    viewport.height = Math.max(0, Math.round(w.innerHeight || 0));
  }

  function withoutQuery(url) {
    // query strings and fragments often carry personal data (search terms, e-mail links): not stored
    try {
      var u = new URL(url, location.href);
      return u.origin + u.pathname;
    } catch (e) {
      return '';
    }
  }

  function positiveInt(value, fallback, min, max) {
    var n = Math.floor(Number(value));
    return isFinite(n) && n >= min && n <= max ? n : fallback;
  }

  function itemId(item) {
    return item.eventId || item.snapshotId || item.kind + ':' + item.sessionId;
  }

  // --- session -------------------------------------------------------------------------------------
  function loadSession() {
    var store = consent ? storage('sessionStorage') : null;
    if (store) {
      try {
        var saved = JSON.parse(store.getItem(SESSION_KEY) || 'null');
        if (saved && typeof saved.id === 'string' && saved.id) {
          return { id: saved.id, seq: Number(saved.seq) || 0, started: !!saved.started };
        }
      } catch (e) {
        // unreadable: start a new session
      }
    }
    return { id: uuid(), seq: 0, started: false };
  }

  function saveSession() {
    var store = consent && session ? storage('sessionStorage') : null;
    if (store) {
      try {
        store.setItem(SESSION_KEY, JSON.stringify(session));
      } catch (e) {
        warnOnce('session-storage', 'could not keep the session in sessionStorage', e);
      }
    }
  }

  function startSession() {
    if (session.started) {
      return;
    }
    session.started = true;
    var nav = w.navigator || {};
    var item = {
      kind: 'session',
      sessionId: session.id,
      deviceType: deviceType(viewport.width),
      viewportWidth: viewport.width,
      viewportHeight: viewport.height,
      timestamp: now(),
    };
    setText(item, 'userAgent', nav.userAgent);
    setText(item, 'referrer', document.referrer ? withoutQuery(document.referrer) : '');
    setText(item, 'landingPage', withoutQuery(location.href));
    setText(item, 'locale', nav.language);
    enqueue(item);
  }

  // --- the queue and its storage -------------------------------------------------------------------
  function enqueue(item) {
    queue.push(item);
    activity = true;
    var over = queue.length - cfg.maxQueue;
    if (over > 0) {
      queue.splice(0, over);
      counters.dropped += over;
      warnOnce('queue-full', 'queue full (' + cfg.maxQueue + ' items): dropping the oldest');
    }
    schedulePersist();
    schedule(queue.length >= batchLimit ? 0 : cfg.flushIntervalMs);
  }

  function removeItems(items) {
    var done = new Set(items);
    queue = queue.filter(function (item) {
      return !done.has(item);
    });
    schedulePersist();
  }

  function validStored(item) {
    return (
      item &&
      typeof item === 'object' &&
      (item.kind === 'interaction' || item.kind === 'snapshot' || item.kind === 'session') &&
      typeof item.sessionId === 'string'
    );
  }

  // Reads every stored queue: this tab's own (kept over a reload) and those that other pages of the
  // site left behind (adopted: their owner is gone, or sends them too, which the server absorbs).
  function loadStored() {
    if (loaded || !cfg) {
      return;
    }
    loaded = true;
    var store = consent ? storage('localStorage') : null;
    if (!store) {
      return;
    }
    var mine = QUEUE_PREFIX + session.id;
    var keys = [];
    var stored = [];
    try {
      for (var i = 0; i < store.length; i++) {
        var key = store.key(i);
        if (key && key.indexOf(QUEUE_PREFIX) === 0) {
          keys.push(key);
        }
      }
      keys.forEach(function (k) {
        var saved = null;
        try {
          saved = JSON.parse(store.getItem(k) || 'null');
        } catch (e) {
          // unreadable: dropped below
        }
        if (saved && Array.isArray(saved.items)) {
          stored = stored.concat(saved.items.filter(validStored));
        }
        if (k !== mine) {
          store.removeItem(k);
        }
      });
    } catch (e) {
      warnOnce('storage-read', 'could not read the stored queue', e);
    }
    if (!stored.length) {
      return;
    }
    var seen = new Set(queue.map(itemId));
    var merged = stored.filter(function (item) {
      var id = itemId(item);
      if (seen.has(id)) {
        return false;
      }
      seen.add(id);
      return true;
    });
    merged.sort(function (a, b) {
      return (Number(a.timestamp) || 0) - (Number(b.timestamp) || 0);
    });
    queue = merged.concat(queue);
    var over = queue.length - cfg.maxQueue;
    if (over > 0) {
      queue.splice(0, over);
      counters.dropped += over;
    }
    schedulePersist();
  }

  function schedulePersist() {
    if (!persistScheduled) {
      persistScheduled = true;
      later(persistNow);
    }
  }

  function persistNow() {
    persistScheduled = false;
    if (!cfg || !consent) {
      return;
    }
    loadStored(); // never overwrite this tab's stored queue before it was read
    saveSession();
    var store = storage('localStorage');
    if (!store) {
      return;
    }
    var key = QUEUE_PREFIX + session.id;
    var items = queue;
    while (true) {
      try {
        if (!items.length) {
          store.removeItem(key);
        } else {
          store.setItem(key, JSON.stringify({ v: 1, items: items }));
        }
        return;
      } catch (e) {
        // quota exceeded (or storage blocked): keep the newer half, until it fits or nothing is left
        if (items.length <= 1) {
          warnOnce('storage-full', 'localStorage refused the queue; it is kept in memory only', e);
          try {
            store.removeItem(key);
          } catch (ignored) {
            // storage unusable
          }
          return;
        }
        items = items.slice(Math.ceil(items.length / 2));
      }
    }
  }

  function clearStorage() {
    ['localStorage', 'sessionStorage'].forEach(function (name) {
      var store = storage(name);
      if (!store) {
        return;
      }
      try {
        var keys = [];
        for (var i = 0; i < store.length; i++) {
          var key = store.key(i);
          if (key && key.indexOf(PREFIX) === 0) {
            keys.push(key);
          }
        }
        keys.forEach(function (k) {
          store.removeItem(k);
        });
      } catch (e) {
        warnOnce('storage-clear', 'could not clear stored events', e);
      }
    });
  }

  // --- sending -------------------------------------------------------------------------------------
  function schedule(delay) {
    if (!cfg || !consent) {
      return;
    }
    delay = Math.max(0, delay);
    var at = now() + delay;
    if (timer && timerAt <= at) {
      return; // already due sooner
    }
    if (timer) {
      clearTimeout(timer);
    }
    timerAt = at;
    timer = setTimeout(function () {
      timer = 0;
      pump();
    }, delay);
  }

  function cancelTimer() {
    if (timer) {
      clearTimeout(timer);
      timer = 0;
    }
  }

  // One send, when one is due: returns the send in progress (or a resolved promise).
  function pump() {
    if (!cfg || !consent || !queue.length) {
      return Promise.resolve();
    }
    if (inFlight) {
      return inFlight;
    }
    loadStored();
    var wait = Math.max(retryAt, breaker === 'open' ? openUntil : 0) - now();
    if (wait > 0) {
      schedule(wait);
      return Promise.resolve();
    }
    if (breaker === 'open') {
      breaker = 'half-open'; // this send is the probe
    }
    inFlight = sendNext()
      .catch(function (e) {
        warnOnce('send', 'sending failed unexpectedly', e);
      })
      .then(function () {
        inFlight = null;
        if (queue.length && consent) {
          var due = Math.max(retryAt, breaker === 'open' ? openUntil : 0) - now();
          if (due > 0) {
            schedule(due);
          } else {
            schedule(queue.length >= batchLimit ? 0 : cfg.flushIntervalMs);
          }
        }
      });
    return inFlight;
  }

  function sendNext() {
    var head = queue[0];
    if (head.kind === 'session') {
      return post('/api/sessions', JSON.stringify(withoutKind(head))).then(function (answer) {
        settle(answer, [head], function () {
          counters.accepted++;
        });
      });
    }
    var items = [];
    for (var i = 0; i < queue.length && items.length < batchLimit; i++) {
      if (queue[i].kind !== 'session') {
        items.push(queue[i]);
      }
    }
    var body = JSON.stringify({ sentAt: new Date().toISOString(), items: items });
    return post('/api/batch', body).then(function (answer) {
      settle(answer, items, function (data) {
        var results = data && Array.isArray(data.results) ? data.results : [];
        var refused = [];
        results.forEach(function (result) {
          if (result && result.status === 'rejected' && items[result.index]) {
            var item = items[result.index];
            refused.push({ kind: item.kind, id: itemId(item), error: result.error });
          }
        });
        counters.rejected += refused.length;
        counters.accepted += items.length - refused.length;
        if (refused.length) {
          warn('the gateway rejected ' + refused.length + ' item(s); dropped, not retried:', refused);
        }
      });
    });
  }

  function withoutKind(item) {
    var copy = {};
    Object.keys(item).forEach(function (k) {
      if (k !== 'kind') {
        copy[k] = item[k];
      }
    });
    return copy;
  }

  function post(path, body) {
    var started = now();
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timeout = controller
      ? setTimeout(function () {
          controller.abort();
        }, cfg.requestTimeoutMs)
      : 0;
    var headers = { 'Content-Type': 'application/json' };
    if (cfg.writeKey) {
      headers['X-Write-Key'] = cfg.writeKey;
    }
    counters.attempts++;
    return fetch(cfg.endpoint + path, {
      method: 'POST',
      headers: headers,
      body: body,
      credentials: 'omit',
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            return {
              status: response.status,
              data: data,
              retryAfterMs: retryAfter(response.headers.get('Retry-After')),
              ms: now() - started,
            };
          });
      })
      .catch(function (error) {
        return { status: 0, data: null, retryAfterMs: 0, ms: now() - started, error: error };
      })
      .then(function (answer) {
        clearTimeout(timeout);
        return answer;
      });
  }

  function retryAfter(header) {
    if (!header) {
      return 0;
    }
    var seconds = Number(header);
    if (isFinite(seconds)) {
      return Math.max(0, seconds * 1000);
    }
    var date = Date.parse(header);
    return isFinite(date) ? Math.max(0, date - now()) : 0;
  }

  function retryable(status) {
    return status === 0 || status === 429 || status >= 500;
  }

  // What became of `items`, from the gateway's answer.
  function settle(answer, items, onAccepted) {
    if (retryable(answer.status)) {
      failed(answer);
      return;
    }
    answered(answer.ms);
    if (answer.status >= 200 && answer.status < 300) {
      onAccepted(answer.data);
      removeItems(items);
      return;
    }
    if (answer.status === 413 && items.length > 1) {
      batchLimit = Math.max(1, Math.floor(items.length / 2)); // too large: send smaller batches
      return;
    }
    var error = answer.data && answer.data.error ? answer.data.error : answer.data;
    warn(
      'the gateway refused ' + items.length + ' item(s) with HTTP ' + answer.status + '; dropped, not retried:',
      error
    );
    counters.rejected += items.length;
    removeItems(items);
  }

  function failed(answer) {
    failures++;
    strikes++;
    counters.failures++;
    var backoff = Math.min(cfg.maxBackoffMs, cfg.baseBackoffMs * Math.pow(2, failures - 1));
    var delay = backoff / 2 + Math.random() * (backoff / 2); // jitter: clients do not retry in step
    retryAt = now() + Math.max(delay, answer.retryAfterMs || 0);
    if (breaker === 'half-open' || strikes >= cfg.breakerThreshold) {
      openBreaker();
    }
  }

  function answered(ms) {
    failures = 0;
    retryAt = 0;
    if (ms > cfg.slowResponseMs) {
      strikes++;
      if (breaker === 'half-open' || strikes >= cfg.breakerThreshold) {
        openBreaker();
      }
      return;
    }
    strikes = 0;
    breaker = 'closed';
    cooldown = 0;
  }

  function openBreaker() {
    cooldown = cooldown ? Math.min(cooldown * 2, cfg.breakerMaxCooldownMs) : cfg.breakerCooldownMs;
    breaker = 'open';
    strikes = 0;
    openUntil = now() + cooldown * (0.8 + Math.random() * 0.4);
    warn('the gateway is failing or slow: pausing sends for ' + Math.round(cooldown / 1000) + ' s');
  }

  // --- leaving the page ----------------------------------------------------------------------------
  function onHide() {
    if (!cfg || !consent) {
      return;
    }
    if (lastSnapshot && activity) {
      enqueue(snapshotItem(lastSnapshot, 'page_exit'));
    }
    activity = false;
    persistNow(); // now: the idle callback may never come
    beaconQueue();
  }

  // Hands the queue to the browser to deliver after the page is gone. The items stay queued (and
  // stored) until a fetch answer accounts for them: a beacon's fate is unknown, and a record sent twice
  // is stored once. An item goes by beacon once per page: leaving fires both visibilitychange and
  // pagehide, and the browser's beacon allowance (about 64 KiB) is better kept for what is new.
  function beaconQueue() {
    var query = cfg.writeKey ? '?key=' + encodeURIComponent(cfg.writeKey) : '';
    var budget = cfg.beaconBytes;
    var items = [];
    for (var i = 0; i < queue.length; i++) {
      var item = queue[i];
      if (beaconed[itemId(item)]) {
        continue;
      }
      if (item.kind === 'session') {
        var start = JSON.stringify(withoutKind(item));
        if (start.length > budget || !beacon(cfg.endpoint + '/api/sessions' + query, start)) {
          return;
        }
        beaconed[itemId(item)] = true;
        budget -= start.length;
      } else {
        items.push(item);
      }
    }
    for (var j = 0; j < items.length; j += batchLimit) {
      var slice = items.slice(j, j + batchLimit);
      var body = JSON.stringify({ sentAt: new Date().toISOString(), items: slice });
      if (body.length > budget || !beacon(cfg.endpoint + '/api/batch' + query, body)) {
        return; // the rest goes with the next page
      }
      for (var k = 0; k < slice.length; k++) {
        beaconed[itemId(slice[k])] = true;
      }
      budget -= body.length;
      counters.beacons++;
    }
  }

  function beacon(url, body) {
    var nav = w.navigator;
    try {
      if (nav && typeof nav.sendBeacon === 'function') {
        return nav.sendBeacon(url, body); // a string goes as text/plain;charset=UTF-8
      }
    } catch (e) {
      // fall back to fetch keepalive
    }
    try {
      fetch(url, {
        method: 'POST',
        body: body,
        keepalive: true,
        credentials: 'omit',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      }).catch(function () {});
      return true;
    } catch (e) {
      return false;
    }
  }

  // --- records -------------------------------------------------------------------------------------
  function snapshotItem(state, trigger) {
    var item = {
      kind: 'snapshot',
      snapshotId: uuid(),
      sessionId: session.id,
      configuration: state.configuration,
      totalPrice: state.totalPrice,
      currency: state.currency,
      completionPercentage: state.completionPercentage,
      trigger: trigger,
      timestamp: now(),
    };
    if (state.additionalData) {
      item.additionalData = state.additionalData;
    }
    return item;
  }

  function ready() {
    if (!cfg) {
      warnOnce('not-initialised', 'call configtrail.init({writeKey}) first; event ignored');
      return false;
    }
    return consent;
  }

  // --- the public functions ------------------------------------------------------------------------
  function init(options) {
    if (cfg) {
      warnOnce('init-twice', 'init called again; the first configuration stays');
      return session.id;
    }
    var o = options || {};
    var c = {};
    Object.keys(DEFAULTS).forEach(function (k) {
      c[k] = o[k] !== undefined && o[k] !== null ? o[k] : DEFAULTS[k];
    });
    c.endpoint = text(o.endpoint !== undefined && o.endpoint !== null ? o.endpoint : scriptOrigin).replace(
      /\/+$/,
      ''
    );
    c.writeKey = text(c.writeKey);
    c.batchSize = positiveInt(c.batchSize, DEFAULTS.batchSize, 1, 500);
    c.maxQueue = positiveInt(c.maxQueue, DEFAULTS.maxQueue, c.batchSize, 100000);
    c.flushIntervalMs = positiveInt(c.flushIntervalMs, DEFAULTS.flushIntervalMs, 10, 3600000);
    cfg = c;
    batchLimit = c.batchSize;
    if (o.consent !== undefined && o.consent !== null) {
      consent = !!o.consent;
    } else {
      consent = consentBeforeInit !== null ? consentBeforeInit : !!DEFAULTS.consent;
    }
    readViewport();
    session = loadSession();
    if (consent) {
      startSession();
    } else {
      clearStorage();
    }
    w.addEventListener('resize', guard('resize', readViewport), { passive: true });
    w.addEventListener('pagehide', guard('pagehide', onHide));
    document.addEventListener(
      'visibilitychange',
      guard('visibilitychange', function () {
        if (document.visibilityState === 'hidden') {
          onHide();
        }
      })
    );
    w.addEventListener(
      'online',
      guard('online', function () {
        retryAt = 0; // the network is back: do not wait out the backoff
        schedule(0);
      })
    );
    later(function () {
      loadStored();
      schedule(0);
    });
    return session.id;
  }

  function track(eventType, properties) {
    if (!ready()) {
      return;
    }
    var type = text(eventType).toLowerCase();
    if (EVENT_TYPES.indexOf(type) < 0) {
      warn('unknown event type ' + JSON.stringify(type) + '; one of ' + EVENT_TYPES.join(', '));
      return;
    }
    var p = properties || {};
    var item = {
      kind: 'interaction',
      eventId: uuid(),
      sessionId: session.id,
      sequence: ++session.seq,
      eventType: type,
      deviceType: deviceType(viewport.width),
      viewportWidth: viewport.width,
      viewportHeight: viewport.height,
      timestamp: now(),
    };
    if (type === 'custom') {
      var name = text(p.name || p.customEventType);
      if (!name) {
        session.seq--;
        warn("track('custom', {name}) needs a name");
        return;
      }
      item.customEventType = name;
    }
    setText(item, 'category', p.category);
    setText(item, 'elementId', p.elementId);
    setText(item, 'selectionValue', p.selectionValue);
    setText(item, 'previousValue', p.previousValue);
    var spent = Math.round(Number(p.timeSpent));
    if (spent > 0 && isFinite(spent)) {
      item.timeSpent = spent;
    }
    if (p.additionalData && typeof p.additionalData === 'object') {
      item.additionalData = Object.assign({}, p.additionalData);
    }
    enqueue(item);
  }

  // snapshot(configuration, totalPriceMinor, currency, completionPercentage, trigger, additionalData);
  // also snapshot(configuration, totalPriceMinor, completionPercentage, trigger) in the init currency.
  function snapshot(configuration, totalPriceMinor, currency, completionPercentage, trigger, additionalData) {
    if (!ready()) {
      return;
    }
    if (typeof currency !== 'string') {
      additionalData = trigger;
      trigger = completionPercentage;
      completionPercentage = currency;
      currency = cfg.currency;
    }
    if (!configuration || typeof configuration !== 'object') {
      warn('snapshot needs the configuration as an object; ignored');
      return;
    }
    var why = text(trigger || 'auto_save');
    if (TRIGGERS.indexOf(why) < 0) {
      warn('unknown snapshot trigger ' + JSON.stringify(why) + '; one of ' + TRIGGERS.join(', '));
      return;
    }
    var price = Math.round(Number(totalPriceMinor));
    var done = Number(completionPercentage);
    lastSnapshot = {
      configuration: JSON.parse(JSON.stringify(configuration)), // as it is now, not as the page changes it
      totalPrice: isFinite(price) && price > 0 ? price : 0,
      currency: text(currency).toUpperCase() || cfg.currency,
      completionPercentage: isFinite(done) ? Math.min(100, Math.max(0, done)) : 0,
      additionalData: additionalData && typeof additionalData === 'object' ? additionalData : null,
    };
    enqueue(snapshotItem(lastSnapshot, why));
  }

  function setConsent(value) {
    var given = !!value;
    if (!cfg) {
      consentBeforeInit = given;
      return;
    }
    if (given === consent) {
      return;
    }
    consent = given;
    if (!consent) {
      cancelTimer();
      queue = [];
      lastSnapshot = null;
      clearStorage();
      session = { id: uuid(), seq: 0, started: false }; // consent given again starts a new session
      return;
    }
    loaded = false; // read what other pages stored while this one had no consent
    startSession();
    persistNow();
    schedule(0);
  }

  // Sends everything queued now (as far as backoff and the breaker allow); resolves when done.
  function flush() {
    var rounds = 0;
    function round() {
      if (!cfg || !consent || !queue.length || rounds++ > 100) {
        return Promise.resolve();
      }
      if (inFlight) {
        return inFlight.then(round); // a send already on its way: wait for it, then go on
      }
      var before = counters.attempts;
      var failedBefore = counters.failures;
      return pump().then(function () {
        var progressed = counters.attempts > before && counters.failures === failedBefore;
        return progressed ? round() : undefined;
      });
    }
    return round();
  }

  function status() {
    return {
      version: VERSION,
      initialised: !!cfg,
      consent: consent,
      sessionId: session ? session.id : null,
      sequence: session ? session.seq : 0,
      queued: queue.length,
      breaker: breaker,
      retryInMs: Math.max(0, retryAt - now()),
      attempts: counters.attempts,
      accepted: counters.accepted,
      rejected: counters.rejected,
      dropped: counters.dropped,
      failures: counters.failures,
      beacons: counters.beacons,
    };
  }

  function guard(name, fn, fallback) {
    return function () {
      try {
        return fn.apply(null, arguments);
      } catch (e) {
        warnOnce('error-' + name, name + ' failed; ignored', e);
        return typeof fallback === 'function' ? fallback() : fallback;
      }
    };
  }

  w.configtrail = {
    version: VERSION,
    init: guard('init', init, null),
    track: guard('track', track),
    snapshot: guard('snapshot', snapshot),
    setConsent: guard('setConsent', setConsent),
    flush: guard(
      'flush',
      function () {
        return flush().catch(function () {});
      },
      function () {
        return Promise.resolve();
      }
    ),
    getSessionId: guard('getSessionId', function () {
      return session ? session.id : null;
    }, null),
    status: guard('status', status, null),
  };
})();
