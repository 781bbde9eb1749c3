/* configtrail dashboard: one page, seven views (#overview, #live, #funnel, #journeys, #popular,
 * #performance, #abandonment), every number read from the gateway's admin API with the admin token the
 * visitor signed in with (kept in sessionStorage: this tab only). Charts by plotly.js, served by the
 * gateway from the plotly wheel. No build step: plain JavaScript.
 *
 * Each view has load(ctx) (the API calls, started before plotly.js has even been read) and
 * draw(el, data, ctx) (DOM and charts). When a view has drawn its charts, the time since the navigation
 * that asked for it is stored in window.__configtrailRenderMs[view] (the browser tests and the benchmark
 * read it) and <html data-rendered="view"> is set. Every control of a view writes the URL's hash, so a
 * view is always what its address says (shareable, and the back button works).
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'configtrail.adminToken';
  const PAGES = ['overview', 'live', 'funnel', 'journeys', 'popular', 'performance', 'abandonment'];
  const RANGED = new Set(['overview', 'funnel', 'journeys', 'popular', 'abandonment']);
  const PRESETS = { '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400, '90d': 90 * 86400 };
  const DEFAULT_PRESET = '30d';
  const CATEGORIES = ['nest', 'gebaeudehuelle', 'ausstattung', 'fenster', 'energie'];
  const EVENT_TYPES = ['click', 'hover', 'selection', 'scroll', 'custom'];
  const TRIGGERS = ['auto_save', 'page_exit', 'order_attempt', 'manual'];
  const DEVICES = ['desktop', 'tablet', 'mobile', 'other'];
  const STATUSES = ['active', 'ordered', 'abandoned'];
  const DEFAULT_STEPS = [
    { eventType: 'selection', category: 'nest' },
    { eventType: 'selection', category: 'gebaeudehuelle' },
    { eventType: 'selection', category: 'ausstattung' },
    { snapshotTrigger: 'order_attempt' },
  ];
  const COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16',
    '#64748b', '#f97316'];
  const LIVE_POINTS = 300;
  const HOUR = 3600;
  const DAY = 86400;
  /** Overview series: hourly buckets up to this range, daily beyond (longer days past MAX_BUCKETS days). */
  const HOURLY_UP_TO = 7 * DAY;
  const MAX_BUCKETS = 2000;
  /** Performance series: the shortest of these buckets that gives at most PERFORMANCE_POINTS per window. */
  const PERFORMANCE_BUCKETS = [60, 300, 900, HOUR, 6 * HOUR, DAY];
  const PERFORMANCE_POINTS = 300;

  const renderMs = (window.__configtrailRenderMs = window.__configtrailRenderMs || {});
  const completeMs = (window.__configtrailCompleteMs = window.__configtrailCompleteMs || {});

  // ---- numbers for people --------------------------------------------------------------------------

  const LOCALE = undefined; // the browser's
  const formats = new Map();
  const numberFormat = (options) => {
    const key = JSON.stringify(options);
    let found = formats.get(key);
    if (!found) {
      found = new Intl.NumberFormat(LOCALE, options);
      formats.set(key, found);
    }
    return found;
  };
  const dateTime = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeStyle: 'short' });
  const clock = new Intl.DateTimeFormat(LOCALE, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const missing = (value) => value === null || value === undefined || Number.isNaN(value);

  const format = {
    int: (n) => (missing(n) ? '—' : numberFormat({ maximumFractionDigits: 0 }).format(n)),
    decimal: (n, digits = 1) =>
      missing(n) ? '—' : numberFormat({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n),
    percent: (fraction) =>
      missing(fraction)
        ? '—'
        : numberFormat({ style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(fraction),
    /** Minor units of the currency → a major-unit number (EUR cents / 100, JPY / 1). */
    major: (money) => {
      const digits = numberFormat({ style: 'currency', currency: money.currency || 'EUR' })
        .resolvedOptions().maximumFractionDigits;
      return Number(money.amountMinor) / 10 ** digits;
    },
    money: (money) => {
      if (!money || !money.currency) return '—';
      return numberFormat({ style: 'currency', currency: money.currency }).format(format.major(money));
    },
    ms: (ms) => {
      if (missing(ms)) return '—';
      const digits = ms < 10 ? 2 : ms < 100 ? 1 : 0;
      return `${numberFormat({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(ms)} ms`;
    },
    /** Seconds as people say them: "0.4 s", "45 s", "2 min 5 s", "3 h 12 min", "2 d 4 h". */
    duration: (seconds) => {
      if (missing(seconds)) return '—';
      const s = Math.max(0, seconds);
      const n = (value, digits = 0) =>
        numberFormat({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
      if (s < 10) return `${n(s, s < 1 || s % 1 ? 1 : 0)} s`;
      if (s < 60) return `${n(Math.round(s))} s`;
      const total = Math.round(s);
      if (total < 3600) {
        const rest = total % 60;
        return rest ? `${n(Math.floor(total / 60))} min ${n(rest)} s` : `${n(total / 60)} min`;
      }
      const minutes = Math.round(s / 60);
      if (minutes < 1440) {
        const rest = minutes % 60;
        return rest ? `${n(Math.floor(minutes / 60))} h ${n(rest)} min` : `${n(minutes / 60)} h`;
      }
      const hours = Math.round(s / 3600);
      const rest = hours % 24;
      return rest ? `${n(Math.floor(hours / 24))} d ${n(rest)} h` : `${n(hours / 24)} d`;
    },
    dateTime: (iso) => (iso ? dateTime.format(new Date(iso)) : '—'),
    clock: (iso) => (iso ? clock.format(new Date(iso)) : '—'),
    ratingName: (rating) => (rating || 'RATING_UNSPECIFIED').replace('RATING_', '').toLowerCase(),
  };
  // d3-format separators for plotly's axes, from the locale: decimal mark, then thousands separator
  const separators = (() => {
    const parts = numberFormat({ minimumFractionDigits: 1 }).formatToParts(12345.6);
    const part = (type, fallback) => (parts.find((p) => p.type === type) || { value: fallback }).value;
    return part('decimal', '.') + part('group', ',');
  })();

  // ---- DOM ---------------------------------------------------------------------------------------

  /** h('div', {class: 'x', 'data-kpi': 'n', onclick: f}, 'text', child) */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
      else if (name === 'class') el.className = value;
      else if (name in el && typeof value !== 'string') el[name] = value;
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const $ = (selector, root = document) => root.querySelector(selector);

  function kpi(name, label, value, text, sub) {
    return h('div', { class: 'kpi' },
      h('span', { class: 'kpi-label' }, label),
      h('span', { class: 'kpi-value', 'data-kpi': name, 'data-value': missing(value) ? '' : String(value) }, text),
      sub ? h('span', { class: 'kpi-sub', 'data-kpi-sub': name }, sub) : null);
  }
  const card = (title, ...children) => h('div', { class: 'card' }, title ? h('h3', {}, title) : null, ...children);
  const chartBox = (name, size = '') => h('div', { class: `chart ${size}`.trim(), 'data-chart': name });
  function table(headers, rows, attrs = {}) {
    return h('div', { class: 'table-wrap' },
      h('table', attrs,
        h('thead', {}, h('tr', {}, headers.map((head) => {
          const [text, numeric] = Array.isArray(head) ? head : [head, false];
          return h('th', { class: numeric ? 'num' : null }, text);
        }))),
        h('tbody', {}, rows)));
  }
  const td = (text, numeric = false, attrs = {}) => h('td', { class: numeric ? 'num' : null, ...attrs }, text);

  // ---- charts ------------------------------------------------------------------------------------

  /** Text for plotly, which reads a little HTML in labels: shown as written, never as markup. */
  const plain = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

  /** The charts' common look, under a chart's own layout. */
  function fullLayout(data, layout) {
    for (const name of ['xaxis', 'yaxis', 'yaxis2']) {
      layout[name] = { separatethousands: true, ...(layout[name] || {}) };
    }
    for (const trace of data) {
      if (trace.type === 'bar' && trace.textangle === undefined) trace.textangle = 0;
    }
    const base = {
      margin: { l: 56, r: 16, t: 12, b: 40 },
      paper_bgcolor: 'rgba(0,0,0,0)',
      plot_bgcolor: 'rgba(0,0,0,0)',
      font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 12, color: '#1f2933' },
      colorway: COLORS,
      separators,
      showlegend: false,
      hoverlabel: { bgcolor: '#102a43', font: { color: '#fff' } },
    };
    return Object.assign(base, layout);
  }
  const PLOT_CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };
  const plot = (el, data, layout = {}) => window.Plotly.newPlot(el, data, fullLayout(data, layout), PLOT_CONFIG);
  /** Draw a chart again with new data (plotly keeps what it can of the old one). */
  const replot = (el, data, layout = {}) => window.Plotly.react(el, data, fullLayout(data, layout), PLOT_CONFIG);
  const legendAbove = { showlegend: true, legend: { orientation: 'h', y: 1.12, x: 0 } };

  // ---- the admin API -----------------------------------------------------------------------------

  let token = sessionStorage.getItem(TOKEN_KEY) || '';

  class AuthError extends Error {}
  class ApiError extends Error {}

  function refusal(status, body) {
    const detail = body && body.error && body.error.message ? ` (${body.error.message})` : '';
    if (status === 401) return `Refused: the gateway wants an admin token (HTTP 401)${detail}.`;
    return `Refused: this admin token is not accepted (HTTP ${status})${detail}.`;
  }

  async function api(path, { params, body, signal } = {}) {
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
    }
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal,
    });
    const answer = await response.json().catch(() => null);
    if (response.status === 401 || response.status === 403) throw new AuthError(refusal(response.status, answer));
    if (!response.ok) {
      const message = answer && answer.error ? answer.error.message : response.statusText;
      throw new ApiError(`${path}: HTTP ${response.status}: ${message}`);
    }
    return answer;
  }

  /** The live feed: server-sent events read with fetch() so that the token stays in a header. */
  async function liveFeed(params, onEvent, onState, signal) {
    while (!signal.aborted) {
      try {
        const url = new URL('/api/admin/live', location.origin);
        for (const [name, value] of Object.entries(params || {})) url.searchParams.set(name, value);
        const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store', signal });
        if (response.status === 401 || response.status === 403) {
          const answer = await response.json().catch(() => null);
          throw new AuthError(refusal(response.status, answer));
        }
        if (!response.ok || !response.body) throw new ApiError(`live feed: HTTP ${response.status}`);
        onState(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length) onEvent(type, JSON.parse(data.join('\n')));
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof AuthError) throw error;
      }
      onState(false);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  // ---- the address: #view?param=… ----------------------------------------------------------------

  function parseRoute() {
    const raw = location.hash.replace(/^#/, '');
    const at = raw.indexOf('?');
    const name = at >= 0 ? raw.slice(0, at) : raw;
    const params = new URLSearchParams(at >= 0 ? raw.slice(at + 1) : '');
    return { page: PAGES.includes(name) ? name : 'overview', params };
  }

  function go(page, params) {
    const query = new URLSearchParams();
    for (const [name, value] of params instanceof URLSearchParams ? params : Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') query.append(name, value);
    }
    const text = query.toString();
    const hash = `#${page}${text ? `?${text}` : ''}`;
    if (location.hash === hash) show();
    else location.hash = hash;
  }

  /** The range of a view's address: from/to (ISO) when custom, else a preset ending now. */
  function rangeOf(params) {
    const from = params.get('from') || '';
    const to = params.get('to') || '';
    if (from || to) return { preset: 'custom', from, to };
    const preset = PRESETS[params.get('range')] ? params.get('range') : DEFAULT_PRESET;
    return { preset, from: new Date(Date.now() - PRESETS[preset] * 1000).toISOString(), to: '' };
  }
  const rangeParams = (params) => {
    const kept = {};
    for (const name of ['from', 'to', 'range']) if (params.get(name)) kept[name] = params.get(name);
    return kept;
  };
  const localInput = (iso) => {
    if (!iso) return '';
    const moment = new Date(iso);
    const pad = (n) => String(n).padStart(2, '0');
    return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
  };
  const rangeText = (answer) => `${format.dateTime(answer.from)} – ${format.dateTime(answer.to)}`;
  /** Seconds of a range (an unset end is now; an unset start is the API's default, 30 days). */
  const rangeSeconds = (range) => {
    const end = range.to ? Date.parse(range.to) : Date.now();
    return range.from ? (end - Date.parse(range.from)) / 1000 : 30 * DAY;
  };
  const overviewBucket = (range) => {
    const seconds = rangeSeconds(range);
    return seconds <= HOURLY_UP_TO ? HOUR : Math.max(1, Math.ceil(seconds / MAX_BUCKETS / DAY)) * DAY;
  };
  const performanceBucket = (windowSeconds) =>
    PERFORMANCE_BUCKETS.find((b) => windowSeconds / b <= PERFORMANCE_POINTS) || PERFORMANCE_BUCKETS.at(-1);
  const bucketName = (seconds) => {
    if (seconds === DAY) return 'day';
    if (seconds % DAY === 0) return `${seconds / DAY} days`;
    if (seconds === HOUR) return 'hour';
    if (seconds % HOUR === 0) return `${seconds / HOUR} hours`;
    return seconds === 60 ? 'minute' : `${seconds / 60} minutes`;
  };

  // ---- views -------------------------------------------------------------------------------------

  const views = {};

  // Overview ---------------------------------------------------------------------------------------
  views.overview = {
    load: (ctx) => api('/api/admin/overview', {
      params: { from: ctx.range.from, to: ctx.range.to, bucketSeconds: overviewBucket(ctx.range) }, signal: ctx.signal,
    }),
    async draw(el, o, ctx) {
      ctx.shownRange(o);
      const bucket = overviewBucket(ctx.range);
      const prices = o.averageFinalPrices || [];
      const mainPrice = prices[0];
      el.append(
        h('h2', {}, 'Overview'),
        h('div', { class: 'kpis' },
          kpi('sessions', 'Sessions started', o.sessions, format.int(o.sessions)),
          kpi('activeNow', 'Active now (last 5 min)', o.activeNow, o.activeNow < 0 ? 'unknown' : format.int(o.activeNow)),
          kpi('interactions', 'Interactions', o.interactions, format.int(o.interactions)),
          kpi('averageSessionDurationSeconds', 'Average session', o.averageSessionDurationSeconds,
            format.duration(o.averageSessionDurationSeconds)),
          kpi('interactionsPerSession', 'Interactions per session', o.interactionsPerSession,
            format.decimal(o.interactionsPerSession)),
          kpi('completionRate', 'Completion rate', o.completionRate, format.percent(o.completionRate),
            `${format.int(o.completedSessions)} sessions at 100 %`),
          kpi('orderConversionRate', 'Order conversion', o.orderConversionRate, format.percent(o.orderConversionRate),
            `${format.int(o.orderAttemptSessions)} sessions with an order attempt`),
          kpi('averageFinalPrice', 'Average final price', mainPrice ? mainPrice.averagePrice.amountMinor : null,
            mainPrice ? format.money(mainPrice.averagePrice) : '—',
            mainPrice ? prices.map((p) => `${prices.length > 1 ? `${format.money(p.averagePrice)} ` : ''}over ${format.int(p.sessions)} sessions`).join(' · ') : 'no priced session'),
        ),
      );
      // every bucket of the range (UTC hours or days), empty ones too; the first and last may be partial
      const series = o.series || [];
      const overTime = chartBox('overTime');
      overTime.dataset.bucketSeconds = String(bucket);
      const devices = chartBox('devices', 'short');
      const rates = chartBox('rates', 'short');
      const categories = chartBox('topCategories', 'short');
      el.append(
        h('div', { class: 'grid wide' }, card(`Sessions started and interactions per ${bucketName(bucket)} (UTC)`, overTime)),
        h('div', { class: 'grid' },
          card('Devices', devices),
          card('Completion and conversion', rates),
          card('Top categories (interactions)', categories)),
      );
      const charts = [];
      const x = series.map((b) => b.start);
      const shape = bucket === HOUR ? 'hv' : 'linear'; // hours: steps; days: a line through the points
      charts.push(plot(overTime, [
        { type: 'scatter', mode: 'lines', name: 'Sessions', x, y: series.map((b) => b.sessions), line: { shape } },
        { type: 'scatter', mode: 'lines', name: 'Interactions', x, y: series.map((b) => b.interactions), yaxis: 'y2',
          line: { shape } },
      ], { ...legendAbove, yaxis: { title: { text: 'sessions' }, rangemode: 'tozero' },
        yaxis2: { overlaying: 'y', side: 'right', title: { text: 'interactions' }, rangemode: 'tozero' },
        margin: { l: 56, r: 64, t: 24, b: 40 } }));
      const deviceRows = o.devices || [];
      charts.push(plot(devices, [{
        type: 'pie', hole: 0.5, sort: false,
        labels: deviceRows.map((d) => plain(d.deviceType || 'unknown')),
        values: deviceRows.map((d) => d.sessions),
        text: deviceRows.map((d) => `${format.int(d.sessions)} · ${format.percent(d.share)}`),
        textinfo: 'label+percent', hovertemplate: '%{label}: %{text}<extra></extra>',
      }], { showlegend: true, margin: { l: 8, r: 8, t: 8, b: 8 } }));
      charts.push(plot(rates, [{
        type: 'bar', orientation: 'h',
        y: ['Completion', 'Order conversion'],
        x: [o.completionRate, o.orderConversionRate],
        text: [format.percent(o.completionRate), format.percent(o.orderConversionRate)],
        textposition: 'auto', hoverinfo: 'y+text', marker: { color: [COLORS[2], COLORS[0]] },
      }], { xaxis: { range: [0, 1], tickformat: '.0%' }, margin: { l: 120, r: 16, t: 8, b: 32 } }));
      const top = (o.topCategories || []).slice().reverse();
      charts.push(plot(categories, [{
        type: 'bar', orientation: 'h',
        y: top.map((c) => plain(c.category)), x: top.map((c) => c.interactions),
        text: top.map((c) => format.int(c.interactions)), textposition: 'auto', hoverinfo: 'y+text',
      }], { margin: { l: 120, r: 16, t: 8, b: 32 } }));
      await Promise.all(charts);
    },
  };

  // Live -------------------------------------------------------------------------------------------
  views.live = {
    load: async () => null,
    draw(el, _data, ctx) {
      const tiles = h('div', { class: 'kpis' });
      const state = h('span', { 'data-live-state': '' }, h('span', { class: 'status-dot' }), 'connecting…');
      const chart = chartBox('live', 'tall');
      const log = h('ul', { class: 'log', 'data-live-log': '' });
      const performanceBox = h('div', { 'data-live-performance': '' }, h('p', { class: 'muted' }, 'Waiting for the first summary…'));
      const problems = h('p', { class: 'error', 'data-live-errors': '', hidden: true });
      el.append(
        h('h2', {}, 'Live ', h('small', { class: 'muted' }, state)),
        problems, tiles,
        h('div', { class: 'grid' },
          card('Active sessions and events per second (last 5 minutes)', chart),
          card('What changed', log)),
        h('div', { class: 'grid wide' }, card('Performance now (last 5 minutes)', performanceBox)),
      );
      let previous = null;
      let drawn = null;
      let resolveFirst;
      const first = new Promise((resolve) => { resolveFirst = resolve; });
      const note = (text, at) => {
        log.prepend(h('li', {}, `${format.clock(at)} · ${text}`));
        while (log.children.length > 50) log.lastChild.remove();
      };
      const onLive = (s) => {
        const ago = s.lastCommitAt ? (Date.parse(s.at) - Date.parse(s.lastCommitAt)) / 1000 : null;
        tiles.replaceChildren(
          kpi('activeNow', 'Active sessions now', s.activeNow, format.int(s.activeNow)),
          kpi('eventsPerSecond', 'Events per second (synced)', s.eventsPerSecond, format.decimal(s.eventsPerSecond)),
          kpi('eventsCommitted', 'Events synced since start', s.eventsCommitted, format.int(s.eventsCommitted)),
          kpi('streamLength', 'Stream length', s.streamLength, format.int(s.streamLength)),
          kpi('syncLag', 'Sync lag (entries)', s.syncLag, format.int(s.syncLag),
            `${format.int(s.syncUndelivered)} waiting · ${format.int(s.syncPending)} in progress`),
          kpi('deadLetters', 'Dead letters', s.deadLetters, format.int(s.deadLetters)),
          kpi('lastCommit', 'Last commit', ago, ago === null ? '—' : `${format.duration(ago)} ago`),
        );
        problems.hidden = !s.errors.length;
        problems.textContent = s.errors.join(' · ');
        if (previous) {
          const added = (s.eventsCommitted || 0) - (previous.eventsCommitted || 0);
          if (added > 0) note(`${format.int(added)} new event${added === 1 ? '' : 's'} synced`, s.at);
          if (!missing(s.activeNow) && !missing(previous.activeNow) && s.activeNow !== previous.activeNow) {
            note(`active sessions ${format.int(previous.activeNow)} → ${format.int(s.activeNow)}`, s.at);
          }
        }
        previous = s;
        const point = { x: [[s.at], [s.at]], y: [[s.activeNow], [s.eventsPerSecond]] };
        if (!drawn) {
          drawn = plot(chart, [
            { type: 'scatter', mode: 'lines', name: 'Active sessions', x: point.x[0], y: point.y[0], line: { shape: 'hv' } },
            { type: 'scatter', mode: 'lines', name: 'Events per second', x: point.x[1], y: point.y[1], yaxis: 'y2' },
          ], {
            ...legendAbove,
            yaxis: { title: { text: 'active sessions' }, rangemode: 'tozero' },
            yaxis2: { title: { text: 'events/s' }, overlaying: 'y', side: 'right', rangemode: 'tozero' },
            margin: { l: 56, r: 56, t: 12, b: 40 },
          }).then(resolveFirst);
        } else {
          drawn = drawn.then(() => window.Plotly.extendTraces(chart, point, [0, 1], LIVE_POINTS));
        }
      };
      const onPerformance = (summary) => performanceBox.replaceChildren(performanceTable(summary), alertList(summary));
      const setState = (on) => {
        state.replaceChildren(h('span', { class: `status-dot ${on ? 'on' : 'off'}` }),
          on ? 'connected, updated every second' : 'reconnecting…');
      };
      liveFeed({ window: 300 }, (type, data) => {
        if (type === 'live') onLive(data);
        else if (type === 'performance') onPerformance(data);
      }, setState, ctx.signal).catch(ctx.fail);
      return first;
    },
  };

  // Funnel -----------------------------------------------------------------------------------------
  function stepsOf(params) {
    const raw = params.getAll('step');
    if (!raw.length) return DEFAULT_STEPS.map((s) => ({ ...s }));
    return raw.map((text) => {
      const [kind, a = '', ...rest] = text.split(':');
      return kind === 's' ? { snapshotTrigger: a } : { eventType: a, category: rest.join(':') };
    });
  }
  const stepText = (s) => (s.snapshotTrigger !== undefined ? `s:${s.snapshotTrigger}` : `i:${s.eventType || ''}:${s.category || ''}`);
  const stepLabel = (s, i) => {
    const text = s.snapshotTrigger
      ? `snapshot ${s.snapshotTrigger}`
      : `${s.eventType || 'any event'} · ${s.category || 'any category'}`;
    return `${i + 1}. ${text}`;
  };

  function stepEditor(steps) {
    const list = h('div', { class: 'steps', 'data-funnel-steps': '' });
    const redraw = () => {
      list.replaceChildren(...steps.map((step, i) => {
        const snapshot = step.snapshotTrigger !== undefined;
        const kind = h('select', {
          'aria-label': `Step ${i + 1} kind`,
          onchange: (e) => {
            steps[i] = e.target.value === 'snapshot' ? { snapshotTrigger: 'order_attempt' } : { eventType: 'selection', category: '' };
            redraw();
          },
        }, h('option', { value: 'interaction', selected: !snapshot }, 'Interaction'),
        h('option', { value: 'snapshot', selected: snapshot }, 'Snapshot'));
        const fields = snapshot
          ? [h('select', { 'aria-label': `Step ${i + 1} trigger`, onchange: (e) => { step.snapshotTrigger = e.target.value; } },
            TRIGGERS.map((t) => h('option', { value: t, selected: t === step.snapshotTrigger }, t)))]
          : [h('select', { 'aria-label': `Step ${i + 1} event type`, onchange: (e) => { step.eventType = e.target.value; } },
            h('option', { value: '', selected: !step.eventType }, 'any event type'),
            EVENT_TYPES.map((t) => h('option', { value: t, selected: t === step.eventType }, t))),
          h('input', { 'aria-label': `Step ${i + 1} category`, list: 'funnel-categories', placeholder: 'any category',
            value: step.category || '', oninput: (e) => { step.category = e.target.value.trim(); } })];
        const move = (to) => { const [moved] = steps.splice(i, 1); steps.splice(to, 0, moved); redraw(); };
        return h('div', { class: 'step-row' },
          h('span', { class: 'step-no' }, `${i + 1}.`), kind, ...fields,
          h('button', { type: 'button', class: 'quiet small', title: 'Earlier', disabled: i === 0, onclick: () => move(i - 1) }, '↑'),
          h('button', { type: 'button', class: 'quiet small', title: 'Later', disabled: i === steps.length - 1, onclick: () => move(i + 1) }, '↓'),
          h('button', { type: 'button', class: 'quiet small', title: 'Remove', disabled: steps.length === 1, onclick: () => { steps.splice(i, 1); redraw(); } }, '✕'));
      }));
    };
    redraw();
    return { list, redraw };
  }

  views.funnel = {
    load(ctx) {
      const breakdown = ctx.params.get('breakdown') !== 'none';
      return api('/api/admin/funnel', {
        body: {
          steps: stepsOf(ctx.params),
          windowSeconds: Number(ctx.params.get('window') || 0),
          from: ctx.range.from || undefined,
          to: ctx.range.to || undefined,
          breakdown: breakdown ? 'deviceType' : '',
        },
        signal: ctx.signal,
      });
    },
    async draw(el, f, ctx) {
      ctx.shownRange(f);
      const steps = stepsOf(ctx.params);
      const editor = stepEditor(steps);
      const windowMinutes = h('input', { type: 'number', min: 0, step: 'any', name: 'window',
        value: String(Number(ctx.params.get('window') || 0) / 60) });
      const breakdown = h('input', { type: 'checkbox', checked: ctx.params.get('breakdown') !== 'none' });
      const run = () => {
        const params = new URLSearchParams(rangeParams(ctx.params));
        for (const step of steps) params.append('step', stepText(step));
        const seconds = Math.round(Number(windowMinutes.value || 0) * 60);
        if (seconds > 0) params.set('window', String(seconds));
        if (!breakdown.checked) params.set('breakdown', 'none');
        go('funnel', params);
      };
      el.append(
        h('h2', {}, 'Funnel'),
        card('Steps',
          h('datalist', { id: 'funnel-categories' }, CATEGORIES.map((c) => h('option', { value: c }))),
          editor.list,
          h('div', { class: 'toolbar' },
            h('button', { type: 'button', class: 'quiet', disabled: steps.length >= 20,
              onclick: () => { steps.push({ eventType: 'selection', category: '' }); editor.redraw(); } }, '+ Add step'),
            h('label', {}, 'Within minutes of the start (0: no limit)', windowMinutes),
            h('label', {}, 'Device breakdown', breakdown),
            h('button', { type: 'button', 'data-action': 'run-funnel', onclick: run }, 'Show funnel'))),
      );
      const results = f.steps || [];
      const labels = results.map((r, i) => plain(stepLabel(steps[i] || r.step, i)));
      const shortLabels = results.map((_, i) => `step ${i + 1}`);
      const funnelChart = chartBox('funnel', 'tall');
      const dropChart = chartBox('dropOff', 'short');
      const timeChart = chartBox('medianTime', 'short');
      const deviceChart = chartBox('devices');
      el.append(
        h('div', { class: 'kpis' },
          kpi('sessions', 'Sessions entering', f.sessions, format.int(f.sessions)),
          kpi('reached', 'Reached the last step', results.length ? results[results.length - 1].count : null,
            results.length ? format.int(results[results.length - 1].count) : '—',
            results.length ? format.percent(results[results.length - 1].conversionFromStart) : ''),
          kpi('window', 'Window', f.windowSeconds, f.windowSeconds ? format.duration(f.windowSeconds) : 'no limit')),
        h('div', { class: 'grid' },
          card('Sessions per step', funnelChart),
          h('div', {}, card('Drop-off per step', dropChart), h('div', { style: 'height:1rem' }), card('Median time from the previous step', timeChart))),
        card('Steps in numbers', table(
          ['Step', ['Sessions', true], ['From start', true], ['From previous', true], ['Drop-off', true], ['Median time', true]],
          results.map((r, i) => h('tr', { 'data-step': String(i) },
            td(stepLabel(steps[i] || r.step, i)),
            td(format.int(r.count), true, { 'data-field': 'count' }),
            td(format.percent(r.conversionFromStart), true, { 'data-field': 'conversionFromStart' }),
            td(format.percent(r.conversionFromPrevious), true, { 'data-field': 'conversionFromPrevious' }),
            td(format.int(r.dropOff), true, { 'data-field': 'dropOff' }),
            td(format.duration(r.medianSecondsFromPrevious), true, { 'data-field': 'medianSecondsFromPrevious' }))))),
      );
      const breakdownRows = f.breakdown || [];
      if (breakdownRows.length) {
        el.append(h('div', { class: 'grid wide', style: 'margin-top:1rem' }, card('By device: conversion from the start', deviceChart,
          table(['Device', ['Sessions', true], ...labels.map((l) => [l, true])],
            breakdownRows.map((b) => h('tr', { 'data-device': b.deviceType },
              td(b.deviceType), td(format.int(b.sessions), true),
              ...(b.steps || []).map((r) => td(`${format.int(r.count)} · ${format.percent(r.conversionFromStart)}`, true))))))));
      }
      const charts = [
        plot(funnelChart, [{
          type: 'funnel', y: labels, x: results.map((r) => r.count),
          text: results.map((r) => `${format.int(r.count)} · ${format.percent(r.conversionFromStart)}`),
          textinfo: 'text', textposition: 'inside', hoverinfo: 'y+text', marker: { color: COLORS[0] },
          connector: { fillcolor: '#dbeafe' },
        }], { margin: { l: 190, r: 16, t: 8, b: 24 } }),
        plot(dropChart, [{
          type: 'bar', x: shortLabels, y: results.map((r) => r.dropOff), marker: { color: COLORS[3] }, hovertext: labels,
          text: results.map((r) => `${format.int(r.dropOff)} · ${format.percent(1 - r.conversionFromPrevious)}`),
          textposition: 'auto', hoverinfo: 'text+name', name: 'dropped', hovertemplate: '%{hovertext}: %{text}<extra></extra>',
        }], { margin: { l: 56, r: 16, t: 8, b: 40 } }),
        plot(timeChart, [{
          type: 'bar', x: shortLabels, y: results.map((r) => r.medianSecondsFromPrevious), marker: { color: COLORS[4] }, hovertext: labels,
          text: results.map((r) => format.duration(r.medianSecondsFromPrevious)), textposition: 'auto',
          hovertemplate: '%{hovertext}: %{text}<extra></extra>',
        }], { yaxis: { title: { text: 'seconds' } }, margin: { l: 56, r: 16, t: 8, b: 40 } }),
      ];
      if (breakdownRows.length) {
        charts.push(plot(deviceChart, breakdownRows.map((b) => ({
          type: 'bar', name: plain(b.deviceType), x: labels, y: (b.steps || []).map((r) => r.conversionFromStart),
          text: (b.steps || []).map((r) => format.percent(r.conversionFromStart)), hoverinfo: 'x+name+text',
        })), { ...legendAbove, barmode: 'group', yaxis: { tickformat: '.0%', range: [0, 1] }, margin: { l: 56, r: 16, t: 24, b: 64 } }));
      }
      await Promise.all(charts);
    },
  };

  // Journeys ---------------------------------------------------------------------------------------
  const priceMinor = (text) => (text === '' || text === null ? '' : String(Math.round(Number(text) * 100)));
  const SESSION_FILTERS = ['deviceType', 'status', 'minPrice', 'maxPrice', 'minCompletion', 'maxCompletion', 'pageSize'];
  let pageTokens = []; // the tokens of the pages before this one (Previous page)

  views.journeys = {
    load(ctx) {
      const p = ctx.params;
      const session = p.get('session');
      // an aggregate over every snapshot of the range (the slowest call): drawn when it comes, after the
      // page's first render of the list
      const evolution = api('/api/admin/price-evolution', { params: { from: ctx.range.from, to: ctx.range.to, maxSteps: 30 }, signal: ctx.signal });
      evolution.catch(() => {}); // handled where it is drawn
      return Promise.all([
        api('/api/admin/sessions', {
          params: {
            from: ctx.range.from, to: ctx.range.to, deviceType: p.get('deviceType'), status: p.get('status'),
            minPriceMinor: priceMinor(p.get('minPrice')), maxPriceMinor: priceMinor(p.get('maxPrice')),
            minCompletion: p.get('minCompletion'), maxCompletion: p.get('maxCompletion'),
            pageSize: p.get('pageSize') || '25', pageToken: p.get('pageToken'),
          },
          signal: ctx.signal,
        }),
        session ? api(`/api/admin/sessions/${encodeURIComponent(session)}/journey`, { signal: ctx.signal }) : null,
      ]).then(([list, journey]) => ({ list, journey, evolution }));
    },
    async draw(el, { list, journey, evolution }, ctx) {
      const p = ctx.params;
      const inputs = {
        deviceType: h('select', { name: 'deviceType' }, h('option', { value: '' }, 'any'),
          DEVICES.map((d) => h('option', { value: d, selected: p.get('deviceType') === d }, d))),
        status: h('select', { name: 'status' }, h('option', { value: '' }, 'any'),
          STATUSES.map((s) => h('option', { value: s, selected: p.get('status') === s }, s))),
        minPrice: h('input', { type: 'number', min: 0, step: 'any', name: 'minPrice', value: p.get('minPrice') || '' }),
        maxPrice: h('input', { type: 'number', min: 0, step: 'any', name: 'maxPrice', value: p.get('maxPrice') || '' }),
        minCompletion: h('input', { type: 'number', min: 0, max: 100, name: 'minCompletion', value: p.get('minCompletion') || '' }),
        maxCompletion: h('input', { type: 'number', min: 0, max: 100, name: 'maxCompletion', value: p.get('maxCompletion') || '' }),
        pageSize: h('select', { name: 'pageSize' }, ['25', '50', '100', '250'].map((n) =>
          h('option', { value: n, selected: (p.get('pageSize') || '25') === n }, n))),
      };
      const withFilters = (extra) => {
        const params = { ...rangeParams(p) };
        for (const name of SESSION_FILTERS) if (p.get(name)) params[name] = p.get(name);
        return { ...params, ...extra };
      };
      const applyFilters = (e) => {
        e.preventDefault();
        pageTokens = [];
        const params = rangeParams(p);
        for (const [name, input] of Object.entries(inputs)) if (input.value) params[name] = input.value;
        go('journeys', params);
      };
      el.append(h('h2', {}, 'Journeys'));
      const detail = journey ? journeyDetail(journey, () => go('journeys', withFilters({ pageToken: p.get('pageToken') }))) : null;
      const charts = [];
      if (detail) {
        el.append(detail.el);
        charts.push(detail.draw());
      }
      const evolutionChart = chartBox('priceEvolution', 'short');
      const evolutionNote = h('p', { class: 'muted' }, 'Loading…');
      el.append(h('div', { class: 'grid wide' }, card('Configured price by snapshot number (all sessions in the range)', evolutionNote, evolutionChart)));
      ctx.later(evolution.then((answer) => {
        ctx.shownRange(answer);
        evolutionNote.remove();
        return drawPriceEvolution(evolutionChart, answer.steps || []);
      }, (error) => {
        if (error instanceof AuthError) throw error;
        evolutionNote.className = 'error';
        evolutionNote.textContent = `Could not load the price evolution: ${error.message}`;
      }));
      const sessions = list.sessions || [];
      const rows = sessions.map((s) => {
        const link = `#journeys?${new URLSearchParams(withFilters({ pageToken: p.get('pageToken') || '', session: s.sessionId })).toString()}`;
        return h('tr', { 'data-session': s.sessionId, class: s.sessionId === p.get('session') ? 'selected' : null },
          td(h('a', { href: link, title: s.sessionId }, s.sessionId.length > 9 ? `${s.sessionId.slice(0, 8)}…` : s.sessionId),
            false, { class: 'nowrap' }),
          td(format.dateTime(s.startedAt), false, { class: 'nowrap' }), td(s.deviceType), td(s.status),
          td(format.duration(s.durationSeconds), true), td(format.int(s.interactionCount), true),
          td(format.int(s.snapshotCount), true), td(s.lastCategory || '—'),
          td(format.money(s.latestPrice), true),
          td(missing(s.completionPercentage) ? '—' : `${format.decimal(s.completionPercentage, 0)} %`, true));
      });
      const pager = h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'quiet', disabled: !p.get('pageToken'), onclick: () => {
          const previous = pageTokens.pop() || '';
          go('journeys', withFilters({ pageToken: previous }));
        } }, '← Previous page'),
        h('button', { type: 'button', class: 'quiet', 'data-action': 'next-page', disabled: !list.nextPageToken, onclick: () => {
          pageTokens.push(p.get('pageToken') || '');
          go('journeys', withFilters({ pageToken: list.nextPageToken }));
        } }, 'Next page →'),
        h('span', { class: 'muted' }, `${format.int(sessions.length)} sessions on this page, newest first`));
      el.append(card('Sessions',
        h('form', { class: 'toolbar', onsubmit: applyFilters },
          h('label', {}, 'Device', inputs.deviceType), h('label', {}, 'Status', inputs.status),
          h('label', {}, 'Price from', inputs.minPrice), h('label', {}, 'Price to', inputs.maxPrice),
          h('label', {}, 'Completion from (%)', inputs.minCompletion), h('label', {}, 'to (%)', inputs.maxCompletion),
          h('label', {}, 'Per page', inputs.pageSize), h('button', { type: 'submit' }, 'Filter')),
        table(['Session', 'Started', 'Device', 'Status', ['Duration', true], ['Interactions', true], ['Snapshots', true],
          'Last category', ['Latest price', true], ['Completion', true]], rows, { 'data-table': 'sessions' }),
        sessions.length ? null : h('p', { class: 'muted' }, 'No session matches.'),
        pager));
      await Promise.all(charts);
      if (detail) window.scrollTo({ top: 0 });
    },
  };

  function drawPriceEvolution(el, steps) {
    // the currency with the most sessions at its first snapshot
    const counts = new Map();
    for (const s of steps) if (s.step === 1) counts.set(s.currency, s.sessions);
    const currency = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([c]) => c)[0];
    const shown = steps.filter((s) => s.currency === currency);
    const major = (m) => (m && m.currency ? format.major(m) : null);
    return plot(el, [
      { type: 'scatter', mode: 'lines+markers', name: 'Average', x: shown.map((s) => s.step), y: shown.map((s) => major(s.averagePrice)),
        text: shown.map((s) => `${format.money(s.averagePrice)} · ${format.int(s.sessions)} sessions`), hoverinfo: 'x+name+text' },
      { type: 'scatter', mode: 'lines', name: 'Median', x: shown.map((s) => s.step), y: shown.map((s) => major(s.medianPrice)),
        text: shown.map((s) => format.money(s.medianPrice)), hoverinfo: 'x+name+text', line: { dash: 'dot' } },
    ], { ...legendAbove, xaxis: { title: { text: 'snapshot number' }, dtick: 1 },
      yaxis: { title: { text: currency || '' }, tickformat: ',.0f' }, margin: { l: 80, r: 16, t: 24, b: 44 } });
  }

  function journeyDetail(j, close) {
    const s = j.session || {};
    const steps = j.steps || [];
    const priced = steps.filter((step) => step.price && step.price.currency);
    const chart = chartBox('journeyPrice');
    const spent = chartBox('journeyTime', 'short');
    const value = (i) => {
      if (!i) return '';
      if (i.previousValue && i.selectionValue) return `${i.previousValue} → ${i.selectionValue}`;
      return i.selectionValue || '';
    };
    const rows = steps.map((step) => {
      const i = step.interaction;
      const snap = step.snapshot;
      return h('tr', { 'data-step': String(step.index) },
        td(format.int(step.index), true), td(format.clock(step.occurredAt), false, { class: 'nowrap' }),
        td(`+${format.duration(step.secondsSincePrevious)}`, true),
        td(i ? (i.eventType === 'custom' && i.customEventType ? `custom: ${i.customEventType}` : i.eventType) : `snapshot: ${snap.trigger}`),
        td(i ? i.category : ''), td(i ? i.elementId : ''), td(value(i)),
        td(i && i.timeSpentMs ? format.duration(i.timeSpentMs / 1000) : '', true),
        td(format.money(step.price), true),
        td(snap ? `${format.decimal(snap.completionPercentage, 0)} %` : '', true));
    });
    const el = h('div', { class: 'grid wide detail', 'data-journey': s.sessionId },
      card(`Session ${s.sessionId}`,
        h('button', { type: 'button', class: 'quiet small', onclick: close, style: 'float:right' }, 'Close'),
        h('dl', {},
          h('dt', {}, 'Started'), h('dd', {}, format.dateTime(s.startedAt)),
          h('dt', {}, 'Device'), h('dd', {}, s.deviceType || '—'),
          h('dt', {}, 'Status'), h('dd', {}, `${s.status}${s.endReason ? ` (ended: ${s.endReason})` : ''}`),
          h('dt', {}, 'Duration'), h('dd', { 'data-field': 'duration' }, format.duration(s.durationSeconds)),
          h('dt', {}, 'Interactions · snapshots'), h('dd', {}, `${format.int(s.interactionCount)} · ${format.int(s.snapshotCount)}`),
          h('dt', {}, 'Latest price'), h('dd', { 'data-field': 'latestPrice' }, format.money(s.latestPrice)),
          h('dt', {}, 'Completion'), h('dd', {}, missing(s.completionPercentage) ? '—' : `${format.decimal(s.completionPercentage, 0)} %`),
          h('dt', {}, 'Landing page · referrer'), h('dd', {}, `${s.landingPage || '—'} · ${s.referrer || 'direct'}`),
          h('dt', {}, 'Locale'), h('dd', {}, s.locale || '—')),
        h('div', { class: 'grid' }, h('div', {}, h('h3', {}, 'Configured price over the session'), chart),
          h('div', {}, h('h3', {}, 'Time spent per interaction'), spent)),
        j.truncated ? h('p', { class: 'muted' }, 'Only the first 10,000 steps are shown.') : null,
        h('h3', {}, 'Timeline'),
        h('div', { class: 'scroll-box' }, table(['#', 'Time', ['Since previous', true], 'Event', 'Category', 'Element', 'Value',
          ['Time spent', true], ['Price after', true], ['Completion', true]], rows, { 'data-table': 'journey' }))));
    const interactions = steps.filter((step) => step.interaction);
    // charts are drawn once the element is in the page (plotly sizes them by their box)
    const draw = () => Promise.all([
      plot(chart, [{
        type: 'scatter', mode: 'lines+markers', line: { shape: 'hv' },
        x: priced.map((step) => step.occurredAt), y: priced.map((step) => format.major(step.price)),
        text: priced.map((step) => `${format.money(step.price)} after step ${format.int(step.index)}`), hoverinfo: 'x+text',
      }], { yaxis: { title: { text: priced.length ? priced[0].price.currency : '' }, tickformat: ',.0f' }, margin: { l: 80, r: 16, t: 8, b: 40 } }),
      plot(spent, [{
        type: 'bar', x: interactions.map((step) => step.index), y: interactions.map((step) => step.interaction.timeSpentMs / 1000),
        text: interactions.map((step) => `${plain(step.interaction.eventType)} ${plain(step.interaction.category)}: ${format.duration(step.interaction.timeSpentMs / 1000)}`),
        hoverinfo: 'text', marker: { color: COLORS[4] },
      }], { xaxis: { title: { text: 'step' } }, yaxis: { title: { text: 'seconds' } }, margin: { l: 56, r: 16, t: 8, b: 40 } }),
    ]);
    return { el, draw };
  }

  // Popular configurations -----------------------------------------------------------------------------
  views.popular = {
    load: (ctx) => api('/api/admin/popular-configurations', {
      params: { from: ctx.range.from, to: ctx.range.to, category: ctx.params.get('category'), limit: ctx.params.get('limit') || '10' },
      signal: ctx.signal,
    }),
    async draw(el, pc, ctx) {
      ctx.shownRange(pc);
      const p = ctx.params;
      const known = new Set([...CATEGORIES, ...(pc.selections || []).map((c) => c.category)]);
      const category = h('select', { name: 'category' }, h('option', { value: '' }, 'every category'),
        [...known].map((c) => h('option', { value: c, selected: p.get('category') === c }, c)));
      const limit = h('select', { name: 'limit' }, ['5', '10', '20', '50'].map((n) => h('option', { value: n, selected: (p.get('limit') || '10') === n }, n)));
      const apply = () => go('popular', { ...rangeParams(p), category: category.value, limit: limit.value });
      category.addEventListener('change', apply);
      limit.addEventListener('change', apply);
      el.append(h('h2', {}, 'Popular configurations'),
        h('div', { class: 'toolbar' }, h('label', {}, 'Category', category), h('label', {}, 'Options and configurations listed', limit)));
      const prices = new Map((pc.optionPrices || []).map((o) => [`${o.category}\u0000${o.option}`, o]));
      const grid = h('div', { class: 'grid' });
      el.append(grid);
      // every card is in the grid before any is drawn: plotly sizes a chart by its box, once
      const later = [];
      for (const c of pc.selections || []) {
        const box = chartBox(`options:${c.category}`, 'short');
        const options = (c.options || []).slice().reverse();
        const top = c.options && c.options[0];
        grid.append(card(`${c.category} · ${format.int(c.selections)} selections`, box,
          top ? h('p', { class: 'muted' }, `Most chosen: ${top.option} (${format.percent(c.selections ? top.selections / c.selections : 0)})`) : null));
        later.push(() => plot(box, [{
          type: 'bar', orientation: 'h', y: options.map((o) => plain(o.option)), x: options.map((o) => o.selections),
          text: options.map((o) => format.int(o.selections)),
          hovertext: options.map((o) => {
            const price = prices.get(`${c.category}\u0000${o.option}`);
            return `${plain(o.option)}: ${format.int(o.selections)} selections${price ? ` · average price ${format.money(price.averagePrice)}` : ''}`;
          }),
          textposition: 'auto', hovertemplate: '%{hovertext}<extra></extra>',
        }], { margin: { l: 190, r: 16, t: 8, b: 32 } }));
      }
      if (!(pc.selections || []).length) grid.append(card('Options', h('p', { class: 'muted' }, 'No selection in this range.')));
      const configurations = pc.configurations || [];
      const order = (key) => (CATEGORIES.includes(key) ? CATEGORIES.indexOf(key) : CATEGORIES.length);
      const configText = (config) => h('div', { class: 'config' },
        Object.entries(config || {}).sort((a, b) => order(a[0]) - order(b[0]) || (a[0] < b[0] ? -1 : 1)).map(([key, value]) => h('span', {}, h('b', {}, `${key}: `), typeof value === 'string' ? value : JSON.stringify(value))));
      const configChart = chartBox('configurations', 'short');
      el.append(
        h('div', { class: 'grid wide' }, card('Most common full configurations (latest configuration of each session)', configChart,
          table(['#', 'Configuration', ['Sessions', true], ['Average price', true]],
            configurations.map((c, i) => h('tr', { 'data-configuration': String(i) },
              td(format.int(i + 1), true), td(configText(c.configuration)),
              td(format.int(c.sessions), true, { 'data-field': 'sessions' }),
              td(format.money(c.averagePrice), true, { 'data-field': 'averagePrice' }))), { 'data-table': 'configurations' }))),
        h('div', { class: 'grid wide' }, card('Average configured price by option (snapshots containing it)',
          table(['Category', 'Option', ['Snapshots', true], ['Average price', true]],
            (pc.optionPrices || []).map((o) => h('tr', {}, td(o.category), td(o.option), td(format.int(o.snapshots), true),
              td(format.money(o.averagePrice), true)))))),
      );
      const shown = configurations.slice(0, 10);
      later.push(() => plot(configChart, [{
        type: 'bar', x: shown.map((_, i) => `#${i + 1}`), y: shown.map((c) => c.sessions),
        text: shown.map((c) => format.int(c.sessions)), textposition: 'auto',
        hovertext: shown.map((c, i) => `#${i + 1}: ${format.int(c.sessions)} sessions · average price ${format.money(c.averagePrice)}`),
        hovertemplate: '%{hovertext}<extra></extra>', marker: { color: COLORS[2] },
      }], { xaxis: { type: 'category' }, yaxis: { title: { text: 'sessions' } } }));
      await Promise.all(later.map((draw) => draw()));
    },
  };

  // Performance ------------------------------------------------------------------------------------
  const WINDOWS = { 300: 'last 5 minutes', 3600: 'last hour', 86400: 'last 24 hours', 604800: 'last 7 days' };
  const endpointLabel = (e) => `${e.metricName} · ${e.endpoint}`;

  function performanceTable(summary) {
    const endpoints = summary.endpoints || [];
    if (!endpoints.length) return h('p', { class: 'muted' }, 'No measurement in this window.');
    return table(['Metric', 'Endpoint', ['Calls', true], ['p50', true], ['p95', true], ['p99', true], ['Max', true],
      ['Mean', true], 'Rating'],
    endpoints.map((e) => h('tr', { 'data-endpoint': endpointLabel(e) },
      td(e.metricName), td(e.endpoint), td(format.int(e.count), true, { 'data-field': 'count' }),
      td(format.ms(e.p50Ms), true, { 'data-field': 'p50Ms' }), td(format.ms(e.p95Ms), true, { 'data-field': 'p95Ms' }),
      td(format.ms(e.p99Ms), true, { 'data-field': 'p99Ms' }), td(format.ms(e.maxMs), true), td(format.ms(e.meanMs), true),
      td(h('span', { class: `badge ${e.rating}` }, format.ratingName(e.rating))))), { 'data-table': 'performance' });
  }

  function alertList(summary) {
    const alerts = summary.alerts || [];
    if (!alerts.length) return h('p', { class: 'ok-note', 'data-alerts': '0' }, 'No active alert.');
    return h('ul', { class: 'alerts', 'data-alerts': String(alerts.length) }, alerts.map((a) => h('li', {},
      h('b', {}, `${a.metricName} · ${a.endpoint}`),
      ` — p95 ${format.ms(a.p95Ms)} in the last minute; poor for ${format.int(a.minutes)} minutes since ${format.clock(a.since)}`)));
  }

  /** One line per metric and endpoint from a summary's series (ordered by metric, endpoint, then start). */
  function seriesTraces(summary, key) {
    const lines = new Map();
    for (const b of summary.series || []) {
      const label = endpointLabel(b);
      if (!lines.has(label)) lines.set(label, { type: 'scatter', mode: 'lines+markers', name: plain(label), x: [], y: [] });
      const line = lines.get(label);
      line.x.push(b.start);
      line.y.push(b[key]);
    }
    return [...lines.values()];
  }

  views.performance = {
    load: (ctx) => {
      const windowSeconds = ctx.params.get('window') || '300';
      return api('/api/admin/performance', {
        params: { window: windowSeconds, bucketSeconds: performanceBucket(Number(windowSeconds)) }, signal: ctx.signal,
      });
    },
    async draw(el, summary, ctx) {
      const p = ctx.params;
      const windowSeconds = p.get('window') || '300';
      const bucket = performanceBucket(Number(windowSeconds));
      const percentile = ['p50', 'p95', 'p99'].includes(p.get('percentile')) ? p.get('percentile') : 'p95';
      const windowSelect = h('select', { name: 'window', onchange: (e) => go('performance', { window: e.target.value, percentile }) },
        Object.entries(WINDOWS).map(([value, text]) => h('option', { value, selected: value === windowSeconds }, text)));
      const percentileSelect = h('select', { name: 'percentile', onchange: (e) => go('performance', { window: windowSeconds, percentile: e.target.value }) },
        ['p50', 'p95', 'p99'].map((name) => h('option', { value: name, selected: name === percentile }, name)));
      const t = summary.thresholds || {};
      const bars = chartBox('percentiles', 'tall');
      const overTime = chartBox('overTime');
      overTime.dataset.bucketSeconds = String(bucket);
      const tableBox = h('div', {}, performanceTable(summary));
      const alertsBox = h('div', {}, alertList(summary));
      el.append(
        h('h2', {}, 'Performance'),
        h('div', { class: 'toolbar' }, h('label', {}, 'Window', windowSelect), h('label', {}, 'Line chart', percentileSelect),
          h('span', { class: 'muted' }, `Ratings by p95: excellent below ${format.ms(t.excellentBelowMs)}, good below ${format.ms(t.goodBelowMs)}, fair below ${format.ms(t.fairBelowMs)}, poor above.`)),
        h('div', { class: 'grid wide' }, card('Active alerts', alertsBox)),
        h('div', { class: 'grid' },
          card(`p50 / p95 / p99 per endpoint (${WINDOWS[windowSeconds] || `${windowSeconds} s`})`, bars),
          card(`${percentile} per ${bucketName(bucket)} (${WINDOWS[windowSeconds] || `${windowSeconds} s`}, kept up to date every 2 s)`, overTime)),
        h('div', { class: 'grid wide' }, card('Endpoints and efficiency ratings', tableBox)),
      );
      const endpoints = (summary.endpoints || []).slice().reverse();
      const labels = endpoints.map((e) => `${plain(e.endpoint)}<br>${plain(e.metricName)}`);
      const bar = (name, key, color) => ({
        type: 'bar', orientation: 'h', name, y: labels, x: endpoints.map((e) => e[key]), marker: { color },
        text: endpoints.map((e) => format.ms(e[key])), hoverinfo: 'y+name+text', textposition: 'none',
      });
      const key = `${percentile}Ms`;
      const overTimeLayout = () => ({
        uirevision: 'keep', // a legend entry hidden, or a zoom, stays through the feed's updates
        showlegend: true, legend: { orientation: 'h', y: -0.2, x: 0 },
        yaxis: { title: { text: 'ms' }, rangemode: 'tozero' }, margin: { l: 56, r: 16, t: 8, b: 40 },
      });
      const drawn = Promise.all([
        plot(bars, [bar('p50', 'p50Ms', COLORS[2]), bar('p95', 'p95Ms', COLORS[1]), bar('p99', 'p99Ms', COLORS[3])],
          { ...legendAbove, legend: { ...legendAbove.legend, traceorder: 'reversed' }, barmode: 'group',
            xaxis: { title: { text: 'ms' } }, margin: { l: 200, r: 16, t: 24, b: 40 } }),
        plot(overTime, seriesTraces(summary, key), overTimeLayout()),
      ]);
      let chain = drawn;
      // The history came with the page's summary; the feed's summaries (every 2 s) carry the same series
      // over the sliding window: the current bucket grows, a new one is added, the oldest leaves. Only
      // the feed's performance summaries are read here: its live samples as rarely as allowed.
      liveFeed({ window: windowSeconds, interval: 10, bucketSeconds: bucket }, (type, next) => {
        if (type !== 'performance') return;
        tableBox.replaceChildren(performanceTable(next));
        alertsBox.replaceChildren(alertList(next));
        chain = chain.then(() => replot(overTime, seriesTraces(next, key), overTimeLayout()));
      }, () => {}, ctx.signal).catch(ctx.fail);
      await drawn;
    },
  };

  // Abandonment ------------------------------------------------------------------------------------
  views.abandonment = {
    load: (ctx) => api('/api/admin/abandonment', { params: { from: ctx.range.from, to: ctx.range.to }, signal: ctx.signal }),
    async draw(el, a, ctx) {
      ctx.shownRange(a);
      const byCategory = a.byLastCategory || [];
      const byElement = (a.byLastElement || []).slice().reverse();
      const buckets = a.completion || [];
      const withSnapshot = buckets.reduce((sum, b) => sum + b.sessions, 0);
      const top = byCategory[0];
      el.append(
        h('h2', {}, 'Abandonment'),
        h('div', { class: 'kpis' },
          kpi('sessions', 'Sessions left without an order', a.sessions, format.int(a.sessions)),
          kpi('withSnapshot', 'With a configuration', withSnapshot, format.int(withSnapshot)),
          kpi('withoutSnapshot', 'Left before any configuration', a.withoutSnapshot, format.int(a.withoutSnapshot)),
          kpi('topCategory', 'Most common last category', top ? top.sessions : null, top ? (top.category || '(none)') : '—',
            top ? `${format.int(top.sessions)} sessions · ${format.percent(a.sessions ? top.sessions / a.sessions : 0)}` : '')),
      );
      const categoryChart = chartBox('byLastCategory');
      const completionChart = chartBox('completion');
      const elementChart = chartBox('byLastElement', 'tall');
      el.append(
        h('div', { class: 'grid' }, card('Where they stopped: last category', categoryChart), card('How far they got: latest completion', completionChart)),
        h('div', { class: 'grid wide' }, card('Last element they touched (top 20)', elementChart)),
      );
      const bucketLabel = (b) => `${format.decimal(b.fromPercent, 0)}–${format.decimal(b.toPercent, 0)} %`;
      await Promise.all([
        plot(categoryChart, [{
          type: 'bar', x: byCategory.map((c) => plain(c.category || '(no interaction)')), y: byCategory.map((c) => c.sessions),
          text: byCategory.map((c) => `${format.int(c.sessions)} · ${format.percent(a.sessions ? c.sessions / a.sessions : 0)}`),
          textposition: 'auto', hoverinfo: 'x+text', marker: { color: COLORS[3] },
        }]),
        plot(completionChart, [{
          type: 'bar', name: 'with a snapshot', x: buckets.map(bucketLabel), y: buckets.map((b) => b.sessions),
          text: buckets.map((b) => format.int(b.sessions)), textposition: 'auto', hoverinfo: 'x+text', marker: { color: COLORS[1] },
        }, {
          type: 'bar', name: 'no snapshot', x: ['none'], y: [a.withoutSnapshot],
          text: [format.int(a.withoutSnapshot)], textposition: 'auto', hoverinfo: 'x+text', marker: { color: '#94a3b8' },
        }], { margin: { l: 56, r: 16, t: 8, b: 64 } }),
        plot(elementChart, [{
          type: 'bar', orientation: 'h', y: byElement.map((e) => plain(e.elementId || '(none)')), x: byElement.map((e) => e.sessions),
          text: byElement.map((e) => format.int(e.sessions)), textposition: 'auto', hoverinfo: 'y+text', marker: { color: COLORS[4] },
        }], { margin: { l: 280, r: 16, t: 8, b: 32 } }),
      ]);
    },
  };

  // ---- the shell: sign-in, tabs, range, rendering ----------------------------------------------------

  const signin = $('#signin');
  const pageEl = $('#page');
  const tabs = $('#tabs');
  const rangeForm = $('#range');
  const signOut = $('#sign-out');
  const signinError = $('#signin-error');
  const plotlyReady = new Promise((resolve) => {
    if (window.Plotly) resolve();
    else window.addEventListener('DOMContentLoaded', () => resolve(), { once: true });
  });
  let generation = 0;
  let controller = null;

  function showSignIn(message) {
    if (controller) controller.abort();
    generation += 1;
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    pageEl.replaceChildren();
    pageEl.hidden = true;
    tabs.hidden = true;
    rangeForm.hidden = true;
    signOut.hidden = true;
    signin.hidden = false;
    signinError.hidden = !message;
    signinError.textContent = message || '';
    document.documentElement.dataset.rendered = 'signin';
    $('#token').focus();
  }

  function syncRangeForm(route, range) {
    rangeForm.hidden = !RANGED.has(route.page);
    $('#range-preset').value = range.preset;
    $('#range-from').value = localInput(range.from);
    $('#range-to').value = range.to ? localInput(range.to) : '';
    $('#range-from').disabled = $('#range-to').disabled = range.preset !== 'custom';
    $('#range-shown').textContent = '';
    for (const link of tabs.querySelectorAll('a')) {
      const page = link.dataset.page;
      link.setAttribute('aria-current', page === route.page ? 'page' : 'false');
      const keep = RANGED.has(page) ? new URLSearchParams(rangeParams(route.params)).toString() : '';
      link.href = `#${page}${keep ? `?${keep}` : ''}`;
    }
  }

  /** Draw the view the address names; ``started``: when its navigation began (0: the document's own). */
  async function show(started = performance.now()) {
    if (controller) controller.abort();
    const gen = ++generation;
    if (!token) {
      showSignIn('');
      return;
    }
    const route = parseRoute();
    const range = rangeOf(route.params);
    controller = new AbortController();
    const signal = controller.signal;
    signin.hidden = true;
    tabs.hidden = false;
    signOut.hidden = false;
    syncRangeForm(route, range);
    delete document.documentElement.dataset.rendered;
    delete document.documentElement.dataset.complete;
    const late = [];
    const ctx = {
      /** Work drawn after the first render (a slow, secondary chart); the page is complete after it. */
      later: (promise) => late.push(promise),
      page: route.page, params: route.params, range, signal,
      shownRange: (answer) => {
        if (gen === generation && answer && answer.from) $('#range-shown').textContent = `Sessions started ${rangeText(answer)}`;
      },
      fail: (error) => { if (gen === generation) failed(error); },
    };
    const view = views[route.page];
    pageEl.hidden = false;
    pageEl.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    try {
      const data = await view.load(ctx);
      await plotlyReady;
      if (gen !== generation) return;
      const el = h('div', { 'data-view': route.page });
      pageEl.replaceChildren(el);
      await view.draw(el, data, ctx);
      if (gen !== generation) return;
      renderMs[route.page] = performance.now() - started;
      document.documentElement.dataset.rendered = route.page;
      await Promise.all(late);
      if (gen !== generation) return;
      completeMs[route.page] = performance.now() - started;
      document.documentElement.dataset.complete = route.page;
    } catch (error) {
      if (gen === generation) failed(error);
    }
  }

  function failed(error) {
    if (error instanceof AuthError) {
      showSignIn(error.message);
      return;
    }
    if (error && error.name === 'AbortError') return;
    pageEl.replaceChildren(h('div', { class: 'card', 'data-error': '' },
      h('p', { class: 'error' }, `Could not load this page: ${error && error.message ? error.message : error}`),
      h('button', { type: 'button', onclick: () => show() }, 'Try again')));
    document.documentElement.dataset.rendered = 'error';
  }

  $('#signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const candidate = $('#token').value.trim();
    if (!candidate) return;
    const button = $('#signin-submit');
    button.disabled = true;
    delete document.documentElement.dataset.rendered;
    token = candidate;
    try {
      // an empty range: answered at once, and only for a known admin token
      const now = new Date().toISOString();
      await api('/api/admin/overview', { params: { from: now, to: now } });
      sessionStorage.setItem(TOKEN_KEY, candidate);
      $('#token').value = '';
      show();
    } catch (error) {
      showSignIn(error instanceof AuthError ? error.message : `Could not reach the admin API: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
  signOut.addEventListener('click', () => showSignIn(''));
  $('#range-preset').addEventListener('change', (event) => {
    const custom = event.target.value === 'custom';
    $('#range-from').disabled = $('#range-to').disabled = !custom;
    if (!custom) rangeForm.requestSubmit();
  });
  rangeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const route = parseRoute();
    const params = new URLSearchParams(route.params);
    for (const name of ['from', 'to', 'range', 'pageToken', 'session']) params.delete(name);
    const preset = $('#range-preset').value;
    if (preset === 'custom') {
      const from = $('#range-from').value;
      const to = $('#range-to').value;
      if (from) params.set('from', new Date(from).toISOString());
      if (to) params.set('to', new Date(to).toISOString());
    } else {
      params.set('range', preset);
    }
    pageTokens = [];
    go(route.page, params);
  });
  window.addEventListener('hashchange', () => show());

  // for the browser tests: the formatters and the views' state
  window.configtrailDashboard = { format, show, renderMs, completeMs };
  show(0);
})();
