/*
 * Optional native fast path of the feed's hot step: one frame holding one Dhan packet -> the normalised events
 * as JSON bytes, with the instrument's state (fastfeed_state.c) and trade baseline kept here. Packets: ticker
 * (code 2), quote (4), OI (5), previous close (6) and full (8).
 *
 * It produces the same events as the pure-Python path in feed/normalise.py (property tests compare both on
 * random packets); the Python path remains the reference and the fallback when this module is not built.
 *
 * Only good packets and the common trade cases are handled here. Core.feed returns False, having changed
 * nothing, for everything else: a price that is NaN, infinite, negative or not below PRICE_MAX; a crossed top
 * of book; an LTT or volume the trade rules' rare branch decides (first packet, new session, bad values); an
 * instrument it does not hold; any other frame. The caller then takes the Python path, which decides and
 * counts (one rule set, one place). Every price is checked before it is converted, so the conversions to
 * integers are always defined.
 */
#include "fastfeed.h"

#define TICKER_SIZE 16
#define QUOTE_SIZE 50
#define OI_SIZE 12
#define PREV_SIZE 16
#define FULL_SIZE 162

typedef struct {
    PyObject_HEAD
    PyObject *states;   /* dict: segment code << 32 | security id -> State */
    PyObject *rules;    /* feed.trades.TradeRules: exchange_ts and trade_ltt_min read here, advance() called */
    long long ltt_floor;
    double ahead;       /* receive time (epoch) + ahead = the latest acceptable LTT (Dhan's epoch) */
} Core;

static PyObject *S_EXCHANGE_TS, *S_TRADE_LTT_MIN, *S_ADVANCE;

static int rules_get(Core *c, PyObject *name, long long *out) {
    PyObject *v = PyObject_GetAttr(c->rules, name);
    if (v == NULL) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* rules.advance(ltt) when ltt is the newest exchange time yet (as the Python path does) */
static int advance(Core *c, long long ltt, long long exchange_ts) {
    if (ltt <= exchange_ts) return 0;
    PyObject *n = PyLong_FromLongLong(ltt);
    if (n == NULL) return -1;
    PyObject *r = PyObject_CallMethodOneArg(c->rules, S_ADVANCE, n);
    Py_DECREF(n);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int emit(PyObject *list, const char *buf, char *end) {
    PyObject *b = PyBytes_FromStringAndSize(buf, end - buf);
    if (b == NULL) return -1;
    int r = PyList_Append(list, b);
    Py_DECREF(b);
    return r;
}

static int emit_quote(const State *s, PyObject *quotes) {
    char q[1024];
    return emit(quotes, q, put_quote(q, s)) < 0 ? -1 : 1;
}

/* TradeRules.admit's common cases: 1 with *qty (0: no trade), 0 for its rare branch (the Python path), -1 */
static int admit(Core *c, const State *s, long long volume, long long ltt, double ltt_max, long long *qty,
                 long long *exchange_ts) {
    long long ltt_min, prev = s->vol;
    if (rules_get(c, S_TRADE_LTT_MIN, &ltt_min) < 0 || rules_get(c, S_EXCHANGE_TS, exchange_ts) < 0) return -1;
    if (volume > prev && prev >= 0 && ltt_min <= ltt && (double)ltt <= ltt_max) *qty = volume - prev;
    else if (volume == prev && c->ltt_floor <= ltt && (double)ltt <= ltt_max) *qty = 0;
    else return 0;
    return 1;
}

static int put_opt(char **o, const State *s, int has, int64_t v, int price) {
    if (!has) *o = put_str(*o, "null");
    else *o = price ? put_scaled(*o, v, s->t.dp) : put_i64(*o, v);
    return 0;
}

/* A trade of qty: the tick event, its side classified against the book before it ("rule" "q"), then by tick
 * rule ("t"); "" for both when neither decides (feed.normalise's _trade, the reference). */
static int emit_trade(State *s, int64_t ltp, long long ltq, long long ltt, long long volume, long long qty,
                      int has_oi, int64_t oi, int has_bid, int64_t bid, int has_ask, int64_t ask, double recv_ts,
                      PyObject *ticks) {
    double price = scaled_value(&s->t, ltp);
    const char *side, *rule;
    if ((s->has & HAS(F_ASK)) && price >= scaled_value(&s->t, s->f[F_ASK])) { side = "B"; rule = "q"; }
    else if ((s->has & HAS(F_BID)) && price <= scaled_value(&s->t, s->f[F_BID])) { side = "S"; rule = "q"; }
    else if (price > s->last_trade_price) { side = "B"; rule = "t"; }
    else if (price < s->last_trade_price) { side = "S"; rule = "t"; }
    else { side = ""; rule = ""; }
    s->last_trade_price = price;
    char t[512], *o = put_head(t, s);
    o = put_str(o, ",\"ltp\":"); o = put_scaled(o, ltp, s->t.dp);
    o = put_str(o, ",\"qty\":"); o = put_i64(o, qty);
    o = put_str(o, ",\"ltq\":"); o = put_i64(o, ltq);
    o = put_str(o, ",\"volume\":"); o = put_i64(o, volume);
    o = put_str(o, ",\"exchange_ts\":"); o = put_i64(o, ltt);
    o = put_str(o, ",\"oi\":"); put_opt(&o, s, has_oi, oi, 0);
    o = put_str(o, ",\"side\":\""); o = put_str(o, side);
    o = put_str(o, "\",\"rule\":\""); o = put_str(o, rule);
    o = put_str(o, "\",\"bid\":"); put_opt(&o, s, has_bid, bid, 1);
    o = put_str(o, ",\"ask\":"); put_opt(&o, s, has_ask, ask, 1);
    o = put_str(o, ",\"recv_ts\":"); o = put_ts(o, recv_ts);
    *o++ = '}';
    return emit(ticks, t, o);
}

static inline void set(State *s, int i, int64_t v) { s->f[i] = v; s->has |= HAS(i); }
static inline void stamp(State *s, double recv_ts, int code) { s->recv_ts = recv_ts; s->has |= HAS(F_RECV_TS); set(s, F_SRC, code); }

static int on_ticker(Core *c, State *s, const unsigned char *p, double recv_ts, double ltt_max, PyObject *quotes) {
    long long ltt = rd_u32(p + 12), exchange_ts;
    if (bad_f32(p + 8) || (ltt && !(c->ltt_floor <= ltt && (double)ltt <= ltt_max))) return 0;
    if (rules_get(c, S_EXCHANGE_TS, &exchange_ts) < 0 || advance(c, ltt, exchange_ts) < 0) return -1;
    set(s, F_LTP, round_scaled(&s->t, rd_f32(p + 8)));
    set(s, F_LTT, ltt);
    stamp(s, recv_ts, 2);
    return emit_quote(s, quotes);
}

static int on_oi(State *s, const unsigned char *p, double recv_ts, PyObject *quotes) {
    set(s, F_OI, rd_u32(p + 8));
    stamp(s, recv_ts, 5);
    return emit_quote(s, quotes);
}

static int on_prev_close(State *s, const unsigned char *p, double recv_ts, PyObject *quotes) {
    if (bad_f32(p + 8)) return 0;
    set(s, F_PREV_CLOSE, round_scaled(&s->t, rd_f32(p + 8)));
    set(s, F_PREV_OI, rd_u32(p + 12));
    stamp(s, recv_ts, 6);
    return emit_quote(s, quotes);
}

/* the trade baseline moves and the exchange clock advances: after every check has passed */
static int commit(Core *c, State *s, long long volume, long long ltt, long long exchange_ts, long long qty) {
    if (qty) { s->vol = volume; s->vol_ltt = ltt; }
    return advance(c, ltt, exchange_ts);
}

static int on_quote(Core *c, State *s, const unsigned char *p, double recv_ts, double ltt_max, PyObject *quotes,
                    PyObject *ticks) {
    if (bad_f32(p + 8) | bad_f32(p + 18) | bad_f32(p + 34) | bad_f32(p + 38) | bad_f32(p + 42) | bad_f32(p + 46))
        return 0;
    long long ltq = rd_u16(p + 12), ltt = rd_u32(p + 14), volume = rd_u32(p + 22), qty, exchange_ts;
    int64_t ltp = round_scaled(&s->t, rd_f32(p + 8));
    int r = admit(c, s, volume, ltt, ltt_max, &qty, &exchange_ts);
    if (r <= 0) return r;
    if (commit(c, s, volume, ltt, exchange_ts, qty) < 0) return -1;
    if (qty && emit_trade(s, ltp, ltq, ltt, volume, qty, (s->has & HAS(F_OI)) != 0, s->f[F_OI],
                          (s->has & HAS(F_BID)) != 0, s->f[F_BID], (s->has & HAS(F_ASK)) != 0, s->f[F_ASK],
                          recv_ts, ticks) < 0)
        return -1;
    set(s, F_LTP, ltp); set(s, F_LTQ, ltq); set(s, F_LTT, ltt);
    set(s, F_ATP, round_scaled(&s->t, rd_f32(p + 18))); set(s, F_VOLUME, volume);
    set(s, F_TSQ, rd_u32(p + 26)); set(s, F_TBQ, rd_u32(p + 30));
    set(s, F_OPEN, round_scaled(&s->t, rd_f32(p + 34))); set(s, F_CLOSE, round_scaled(&s->t, rd_f32(p + 38)));
    set(s, F_HIGH, round_scaled(&s->t, rd_f32(p + 42))); set(s, F_LOW, round_scaled(&s->t, rd_f32(p + 46)));
    stamp(s, recv_ts, 4);
    return emit_quote(s, quotes);
}

/* the depth event of a full packet: five levels a side, [price, quantity, orders] */
static int emit_depth(const State *s, const unsigned char *d, long long ltt, double recv_ts, PyObject *depth) {
    char dj[768], *e = put_head(dj, s);
    e = put_str(e, ",\"exchange_ts\":"); e = put_i64(e, ltt);
    e = put_str(e, ",\"recv_ts\":"); e = put_ts(e, recv_ts);
    for (int side = 0; side < 2; side++) {
        e = put_str(e, side == 0 ? ",\"bids\":[" : "],\"asks\":[");
        for (int i = 0; i < 5; i++) {
            const unsigned char *lv = d + 20 * i;
            if (i) *e++ = ',';
            *e++ = '[';
            e = put_scaled(e, round_scaled(&s->t, rd_f32(lv + (side == 0 ? 12 : 16))), s->t.dp);
            *e++ = ',';
            e = put_u64(e, rd_u32(lv + (side == 0 ? 0 : 4)));
            *e++ = ',';
            e = put_u64(e, rd_u16(lv + (side == 0 ? 8 : 10)));
            *e++ = ']';
        }
    }
    e = put_str(e, "]}");
    return emit(depth, dj, e);
}

static int on_full(Core *c, State *s, const unsigned char *p, double recv_ts, double ltt_max, PyObject *quotes,
                   PyObject *ticks, PyObject *depth) {
    const unsigned char *d = p + 62;
    /* every price of the packet, checked before any is converted */
    uint32_t bad = bad_f32(p + 8) | bad_f32(p + 18) | bad_f32(p + 46) | bad_f32(p + 50) | bad_f32(p + 54)
                   | bad_f32(p + 58);
    for (int i = 0; i < 5; i++) bad |= bad_f32(d + 20 * i + 12) | bad_f32(d + 20 * i + 16);
    if (bad || (rd_f32(d + 12) > rd_f32(d + 16) && rd_f32(d + 16) > 0.0f)) return 0;  /* or a crossed book */
    long long ltq = rd_u16(p + 12), ltt = rd_u32(p + 14), volume = rd_u32(p + 22), oi = rd_u32(p + 34);
    long long qty, exchange_ts;
    int r = admit(c, s, volume, ltt, ltt_max, &qty, &exchange_ts);
    if (r <= 0) return r;
    if (commit(c, s, volume, ltt, exchange_ts, qty) < 0) return -1;
    int has_bid = rd_u32(d) != 0 || rd_f32(d + 12) != 0.0f;
    int has_ask = rd_u32(d + 4) != 0 || rd_f32(d + 16) != 0.0f;
    int64_t ltp = round_scaled(&s->t, rd_f32(p + 8));
    int64_t bid = has_bid ? round_scaled(&s->t, rd_f32(d + 12)) : 0;
    int64_t ask = has_ask ? round_scaled(&s->t, rd_f32(d + 16)) : 0;
    if (qty && emit_trade(s, ltp, ltq, ltt, volume, qty, 1, oi, has_bid, bid, has_ask, ask, recv_ts, ticks) < 0)
        return -1;
    set(s, F_LTP, ltp); set(s, F_LTQ, ltq); set(s, F_LTT, ltt);
    set(s, F_ATP, round_scaled(&s->t, rd_f32(p + 18))); set(s, F_VOLUME, volume);
    set(s, F_TSQ, rd_u32(p + 26)); set(s, F_TBQ, rd_u32(p + 30));
    set(s, F_OI, oi); set(s, F_OI_HIGH, rd_u32(p + 38)); set(s, F_OI_LOW, rd_u32(p + 42));
    set(s, F_OPEN, round_scaled(&s->t, rd_f32(p + 46))); set(s, F_CLOSE, round_scaled(&s->t, rd_f32(p + 50)));
    set(s, F_HIGH, round_scaled(&s->t, rd_f32(p + 54))); set(s, F_LOW, round_scaled(&s->t, rd_f32(p + 58)));
    s->has &= ~(HAS(F_BID) | HAS(F_ASK));
    if (has_bid) set(s, F_BID, bid);
    if (has_ask) set(s, F_ASK, ask);
    stamp(s, recv_ts, 8);
    if (emit_quote(s, quotes) < 0) return -1;
    return emit_depth(s, d, ltt, recv_ts, depth) < 0 ? -1 : 1;
}

static Py_ssize_t size_of(int code) {
    switch (code) {
    case 2: return TICKER_SIZE;
    case 4: return QUOTE_SIZE;
    case 5: return OI_SIZE;
    case 6: return PREV_SIZE;
    case 8: return FULL_SIZE;
    default: return -1;
    }
}

static PyObject *key_of(const unsigned char *p) { return PyLong_FromUnsignedLongLong(((unsigned long long)p[3] << 32) | rd_u32(p + 4)); }

/* One frame's packet: 1 handled (events appended), 0 for the Python path (nothing changed), -1 error */
static int feed_packet(Core *c, const unsigned char *p, Py_ssize_t n, double recv_ts, PyObject *quotes,
                       PyObject *ticks, PyObject *depth) {
    if (n < 8 || n != size_of(p[0])) return 0;
    PyObject *key = key_of(p);
    if (key == NULL) return -1;
    State *s = (State *)PyDict_GetItemWithError(c->states, key);
    Py_DECREF(key);
    if (s == NULL) return PyErr_Occurred() ? -1 : 0;
    if (!s->current) return 0;
    double ltt_max = recv_ts + c->ahead;
    int r;
    Py_INCREF(s);  /* rules.advance() runs Python code: hold the state whatever it does to the dict */
    switch (p[0]) {
    case 2: r = on_ticker(c, s, p, recv_ts, ltt_max, quotes); break;
    case 4: r = on_quote(c, s, p, recv_ts, ltt_max, quotes, ticks); break;
    case 5: r = on_oi(s, p, recv_ts, quotes); break;
    case 6: r = on_prev_close(s, p, recv_ts, quotes); break;
    default: r = on_full(c, s, p, recv_ts, ltt_max, quotes, ticks, depth); break;
    }
    Py_DECREF(s);
    return r;
}

/* feed(frame, recv_ts, quotes, ticks, depth) -> True when handled (events appended), False when the Python
 * path must take the frame (nothing changed). The frame: bytes, or any other buffer (a journal's, a test's). */
static PyObject *core_feed(Core *c, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "feed takes 5 arguments"); return NULL; }
    PyObject *frame = args[0], *quotes = args[2], *ticks = args[3], *depth = args[4];
    double recv_ts = PyFloat_AsDouble(args[1]);
    if (recv_ts == -1.0 && PyErr_Occurred()) return NULL;
    if (!PyList_Check(quotes) || !PyList_Check(ticks) || !PyList_Check(depth)) {
        PyErr_SetString(PyExc_TypeError, "feed: quotes, ticks and depth must be lists");
        return NULL;
    }
    if (!(recv_ts >= 0.0 && recv_ts < RECV_TS_MAX)) Py_RETURN_FALSE;
    int r;
    if (PyBytes_Check(frame)) {
        r = feed_packet(c, (const unsigned char *)PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame), recv_ts,
                        quotes, ticks, depth);
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE) < 0) { PyErr_Clear(); Py_RETURN_FALSE; }
        r = feed_packet(c, (const unsigned char *)view.buf, view.len, recv_ts, quotes, ticks, depth);
        PyBuffer_Release(&view);
    }
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

static int key_arg(PyObject *args, PyObject **key, PyObject **state) {
    unsigned int seg;
    unsigned long sid;
    *state = NULL;
    if (!PyArg_ParseTuple(args, "Ik|O!", &seg, &sid, &StateType, state)) return -1;
    if (seg > 255 || sid > UINT32_MAX) { PyErr_SetString(PyExc_ValueError, "bad segment code or sid"); return -1; }
    *key = PyLong_FromUnsignedLongLong(((unsigned long long)seg << 32) | sid);
    return *key == NULL ? -1 : 0;
}

static PyObject *core_add(Core *c, PyObject *args) {
    PyObject *key, *state;
    if (key_arg(args, &key, &state) < 0) return NULL;
    if (state == NULL) { Py_DECREF(key); PyErr_SetString(PyExc_TypeError, "add(seg, sid, state)"); return NULL; }
    int r = PyDict_SetItem(c->states, key, state);
    Py_DECREF(key);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *core_remove(Core *c, PyObject *args) {
    PyObject *key, *state;
    if (key_arg(args, &key, &state) < 0) return NULL;
    int r = PyDict_Contains(c->states, key);
    if (r > 0) r = PyDict_DelItem(c->states, key);
    Py_DECREF(key);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

/* Core(rules, ltt_floor, ahead): the states of one normaliser, and its trade rules */
static int core_init(Core *c, PyObject *args, PyObject *kwds) {
    PyObject *rules;
    long long ltt_floor;
    double ahead;
    static char *kw[] = {"rules", "ltt_floor", "ahead", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OLd", kw, &rules, &ltt_floor, &ahead)) return -1;
    PyObject *states = PyDict_New();
    if (states == NULL) return -1;
    Py_INCREF(rules);
    Py_XSETREF(c->rules, rules);
    Py_XSETREF(c->states, states);
    c->ltt_floor = ltt_floor;
    c->ahead = ahead;
    return 0;
}

static void core_dealloc(Core *c) {
    Py_XDECREF(c->states);
    Py_XDECREF(c->rules);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyMethodDef core_methods[] = {
    {"feed", (PyCFunction)(void (*)(void))core_feed, METH_FASTCALL,
     "feed(frame, recv_ts, quotes, ticks, depth) -> True when handled, False for the Python path"},
    {"add", (PyCFunction)core_add, METH_VARARGS, "add(segment code, sid, state)"},
    {"remove", (PyCFunction)core_remove, METH_VARARGS, "remove(segment code, sid); absent is fine"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "feed._fastfeed.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Core(rules, ltt_floor, ahead): the native path of one normaliser",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_methods = core_methods,
};

/* book_rows(rows, rnd, memo) -> list | None: feed.fulldepth.books.book_rows in C, for the depth feeds' books.
 * ``rows`` is a depth packet's tuple of (price, quantity, orders) tuples; the result is [[rnd(price), quantity,
 * orders], ...] without the empty rows (price not above 0 and quantity 0). ``memo`` is rnd's own memo
 * (feed.prices.shared_rounder_memo) or None: a price found there is what rnd would return; any other is
 * rnd's to round (or to refuse: its exception propagates). None when ``rows`` is not a tuple of 3-tuples
 * whose prices are floats: the Python function then does the work. */
static PyObject *book_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *rows, *rnd, *memo, *out;
    Py_ssize_t n;
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "book_rows(rows, rnd, memo)");
        return NULL;
    }
    rows = args[0];
    rnd = args[1];
    memo = args[2] == Py_None ? NULL : args[2];
    if (!PyTuple_CheckExact(rows) || (memo != NULL && !PyDict_CheckExact(memo)))
        Py_RETURN_NONE;
    n = PyTuple_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyTuple_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 3 || !PyFloat_CheckExact(PyTuple_GET_ITEM(row, 0)))
            Py_RETURN_NONE;
    }
    out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyTuple_GET_ITEM(rows, i), *price = PyTuple_GET_ITEM(row, 0), *rounded, *level;
        PyObject *qty = PyTuple_GET_ITEM(row, 1), *orders = PyTuple_GET_ITEM(row, 2);
        if (!(PyFloat_AS_DOUBLE(price) > 0.0)) {          /* Python: price > 0.0 or qty */
            int truth = PyObject_IsTrue(qty);
            if (truth < 0)
                goto fail;
            if (!truth)
                continue;
        }
        rounded = memo != NULL ? PyDict_GetItemWithError(memo, price) : NULL;   /* borrowed */
        if (rounded != NULL) {
            Py_INCREF(rounded);
        } else {
            if (PyErr_Occurred())
                goto fail;
            rounded = PyObject_CallOneArg(rnd, price);
            if (rounded == NULL)
                goto fail;
        }
        level = PyList_New(3);
        if (level == NULL) {
            Py_DECREF(rounded);
            goto fail;
        }
        Py_INCREF(qty);
        Py_INCREF(orders);
        PyList_SET_ITEM(level, 0, rounded);
        PyList_SET_ITEM(level, 1, qty);
        PyList_SET_ITEM(level, 2, orders);
        if (PyList_Append(out, level) < 0) {
            Py_DECREF(level);
            goto fail;
        }
        Py_DECREF(level);
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* Decimal digits of n >= 0 written at p; returns the end. */
static char *put_decimal(char *p, Py_ssize_t n) {
    char tmp[24];
    int len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    while (len > 0)
        *p++ = tmp[--len];
    return p;
}

static Py_ssize_t decimal_len(Py_ssize_t n) {
    Py_ssize_t len = 1;
    while (n >= 10) {
        n /= 10;
        len++;
    }
    return len;
}

#define RESP_KINDS_MAX 16

/* resp_batch(chunk, xadd, pub) -> (bytes, counts) | None: feed.publisher.resp_batch_py in C, the publisher's
 * commands for one batch. ``chunk`` is a list of (kind, payload) tuples, ``xadd`` a list of each kind's XADD
 * prefix (bytes, up to the field name), ``pub`` a list of each kind's PUBLISH prefix or None (no PUBLISH).
 * The bytes hold one XADD per event, in order (its prefix, then the payload as a bulk string), then, for each
 * kind with events, in kind order, one PUBLISH of the JSON array of its payloads; counts is the events per
 * kind. None when ``chunk`` holds anything else (a kind out of range, a payload not bytes): the Python
 * function then does the work. Two passes: the sizes, then one bytes object filled in place. */
static PyObject *resp_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *chunk, *xadd, *pub, *data, *counts, *out;
    Py_ssize_t n, kinds, total = 0, xadd_total;
    Py_ssize_t count[RESP_KINDS_MAX] = {0}, array_len[RESP_KINDS_MAX] = {0};
    char *array_at[RESP_KINDS_MAX] = {NULL}, *p;
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "resp_batch(chunk, xadd, pub)");
        return NULL;
    }
    chunk = args[0];
    xadd = args[1];
    pub = args[2] == Py_None ? NULL : args[2];
    if (!PyList_CheckExact(chunk) || !PyList_CheckExact(xadd) || (pub != NULL && !PyList_CheckExact(pub)))
        Py_RETURN_NONE;
    kinds = PyList_GET_SIZE(xadd);
    if (kinds > RESP_KINDS_MAX || (pub != NULL && PyList_GET_SIZE(pub) != kinds))
        Py_RETURN_NONE;
    for (Py_ssize_t k = 0; k < kinds; k++)
        if (!PyBytes_CheckExact(PyList_GET_ITEM(xadd, k)) || (pub != NULL && !PyBytes_CheckExact(PyList_GET_ITEM(pub, k))))
            Py_RETURN_NONE;
    n = PyList_GET_SIZE(chunk);
    for (Py_ssize_t i = 0; i < n; i++) {                     /* pass 1: check and size */
        PyObject *item = PyList_GET_ITEM(chunk, i), *kind_obj, *payload;
        Py_ssize_t kind, len;
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2)
            Py_RETURN_NONE;
        kind_obj = PyTuple_GET_ITEM(item, 0);
        payload = PyTuple_GET_ITEM(item, 1);
        if (!PyLong_CheckExact(kind_obj) || !PyBytes_CheckExact(payload))
            Py_RETURN_NONE;
        kind = PyLong_AsSsize_t(kind_obj);
        if (kind < 0 || kind >= kinds) {
            PyErr_Clear();                                 /* an int too large for Py_ssize_t */
            Py_RETURN_NONE;
        }
        len = PyBytes_GET_SIZE(payload);
        total += PyBytes_GET_SIZE(PyList_GET_ITEM(xadd, kind)) + 1 + decimal_len(len) + 2 + len + 2;
        count[kind]++;
        array_len[kind] += len;
    }
    xadd_total = total;
    if (pub != NULL) {
        for (Py_ssize_t k = 0; k < kinds; k++) {
            if (count[k] == 0)
                continue;
            array_len[k] += 2 + count[k] - 1;                /* brackets and commas */
            total += PyBytes_GET_SIZE(PyList_GET_ITEM(pub, k)) + 1 + decimal_len(array_len[k]) + 2 + array_len[k] + 2;
        }
    }
    data = PyBytes_FromStringAndSize(NULL, total);
    if (data == NULL)
        return NULL;
    p = PyBytes_AS_STRING(data);
    /* where each PUBLISH array's payloads go: after all the XADDs, in kind order */
    if (pub != NULL) {
        char *q = p + xadd_total;
        for (Py_ssize_t k = 0; k < kinds; k++) {
            PyObject *prefix;
            if (count[k] == 0)
                continue;
            prefix = PyList_GET_ITEM(pub, k);
            memcpy(q, PyBytes_AS_STRING(prefix), (size_t)PyBytes_GET_SIZE(prefix));
            q += PyBytes_GET_SIZE(prefix);
            *q++ = '$';
            q = put_decimal(q, array_len[k]);
            *q++ = '\r';
            *q++ = '\n';
            *q = '[';
            array_at[k] = q + 1;
            q += array_len[k];
            *q++ = '\r';
            *q++ = '\n';
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {                     /* pass 2: fill */
        PyObject *item = PyList_GET_ITEM(chunk, i), *payload = PyTuple_GET_ITEM(item, 1), *prefix;
        Py_ssize_t kind = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0)), len = PyBytes_GET_SIZE(payload);
        prefix = PyList_GET_ITEM(xadd, kind);
        memcpy(p, PyBytes_AS_STRING(prefix), (size_t)PyBytes_GET_SIZE(prefix));
        p += PyBytes_GET_SIZE(prefix);
        *p++ = '$';
        p = put_decimal(p, len);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, PyBytes_AS_STRING(payload), (size_t)len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
        if (array_at[kind] != NULL) {
            memcpy(array_at[kind], PyBytes_AS_STRING(payload), (size_t)len);
            array_at[kind] += len;
            *array_at[kind]++ = ',';                       /* the last one becomes the ']' below */
        }
    }
    for (Py_ssize_t k = 0; k < kinds; k++)
        if (array_at[k] != NULL)
            array_at[k][-1] = ']';
    counts = PyList_New(kinds);
    if (counts == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < kinds; k++) {
        PyObject *c = PyLong_FromSsize_t(count[k]);
        if (c == NULL) {
            Py_DECREF(counts);
            Py_DECREF(data);
            return NULL;
        }
        PyList_SET_ITEM(counts, k, c);
    }
    out = PyTuple_Pack(2, data, counts);
    Py_DECREF(data);
    Py_DECREF(counts);
    return out;
}

static PyMethodDef module_methods[] = {
    {"book_rows", (PyCFunction)(void (*)(void))book_rows, METH_FASTCALL,
     "book_rows(rows, rnd, memo) -> list | None: feed.fulldepth.books.book_rows in C (None: not plain)"},
    {"resp_batch", (PyCFunction)(void (*)(void))resp_batch, METH_FASTCALL,
     "resp_batch(chunk, xadd, pub) -> (bytes, counts) | None: feed.publisher.resp_batch_py in C (None: not plain)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastfeed", "Native fast path of feed.normalise", -1,
                                    module_methods};

PyMODINIT_FUNC PyInit__fastfeed(void) {
    S_EXCHANGE_TS = PyUnicode_InternFromString("exchange_ts");
    S_TRADE_LTT_MIN = PyUnicode_InternFromString("trade_ltt_min");
    S_ADVANCE = PyUnicode_InternFromString("advance");
    if (!S_EXCHANGE_TS || !S_TRADE_LTT_MIN || !S_ADVANCE) return NULL;
    if (PyType_Ready(&StateType) < 0 || PyType_Ready(&CoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "State", (PyObject *)&StateType) < 0
        || PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
