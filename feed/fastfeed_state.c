/*
 * State: one instrument's merged quote state and trade baseline on the native path (see fastfeed.h).
 *
 * The Python path (feed/normalise.py) keeps the same state as a dict and three numbers. Exactly one copy is
 * the truth at a time: the normaliser takes the Python copy with as_dict() before its Python path touches the
 * instrument, and gives it back with load() after. load() refuses (returns False) a value this copy cannot hold
 * exactly (a price that is no whole count of 10^-dp, as after a tick change to fewer decimals): the instrument
 * then stays on the Python path, which is always right.
 */
#include "fastfeed.h"
#include <structmember.h>

enum { K_PX, K_INT, K_TS };
static const char *const NAMES[N_FIELDS] = {
    "ltp", "ltq", "exchange_ts", "atp", "volume", "tsq", "tbq", "oi", "oi_high", "oi_low", "open", "close",
    "high", "low", "prev_close", "prev_oi", "bid", "ask", "recv_ts", "src",
};
static const char KINDS[N_FIELDS] = {
    K_PX, K_INT, K_INT, K_PX, K_INT, K_INT, K_INT, K_INT, K_INT, K_INT, K_PX, K_PX,
    K_PX, K_PX, K_PX, K_INT, K_PX, K_PX, K_TS, K_INT,
};

int tick_of(double tick, long dp, Tick *out) {
    if (dp < 0 || dp > 6 || !(tick > 0.0 && tick < PRICE_MAX)) {
        PyErr_SetString(PyExc_ValueError, "State: bad tick or decimals");
        return -1;
    }
    double units = tick * (double)POW10[dp];
    double whole = rint(units);
    if (whole < 1.0 || fabs(units - whole) > 1e-9 * units) {
        PyErr_SetString(PyExc_ValueError, "State: tick is not a whole number of 10^-decimals units");
        return -1;
    }
    out->inv = 1.0 / tick;
    out->tick_scaled = (int64_t)whole;
    out->dp = (int)dp;
    return 0;
}

char *put_head(char *o, const State *s) {
    o = put_str(o, "{\"v\":1,\"seg\":\"");
    memcpy(o, s->seg, (size_t)s->seg_len);
    o += s->seg_len;
    o = put_str(o, "\",\"sid\":");
    return put_u64(o, s->sid);
}

/* at most ~700 bytes: 20 keys and values of at most 21 characters */
char *put_quote(char *o, const State *s) {
    o = put_head(o, s);
    for (int i = 0; i < N_FIELDS; i++) {
        *o++ = ',';
        *o++ = '"';
        o = put_str(o, NAMES[i]);
        *o++ = '"';
        *o++ = ':';
        if (!(s->has & HAS(i))) o = put_str(o, "null");
        else if (KINDS[i] == K_PX) o = put_scaled(o, s->f[i], s->t.dp);
        else if (KINDS[i] == K_TS) o = put_ts(o, s->recv_ts);
        else o = put_i64(o, s->f[i]);
    }
    *o++ = '}';
    return o;
}

static int seg_ok(const char *seg, Py_ssize_t n) {  /* printed between quotes unescaped: plain names only */
    if (n < 1 || n > SEG_MAX) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = seg[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

/* State(seg, sid, tick, decimals): a fresh instrument (every field None, no baseline), current */
static int state_init(State *s, PyObject *args, PyObject *kwds) {
    const char *seg;
    Py_ssize_t seg_len;
    unsigned long long sid;
    double tick;
    long dp;
    static char *kw[] = {"seg", "sid", "tick", "decimals", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s#Kdl", kw, &seg, &seg_len, &sid, &tick, &dp)) return -1;
    if (!seg_ok(seg, seg_len) || sid > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "State: the segment must be a plain name and sid a u32");
        return -1;
    }
    if (tick_of(tick, dp, &s->t) < 0) return -1;
    memcpy(s->seg, seg, (size_t)seg_len);
    s->seg[seg_len] = 0;
    s->seg_len = seg_len;
    s->sid = (uint32_t)sid;
    s->current = 1;
    s->has = 0;
    memset(s->f, 0, sizeof s->f);
    s->recv_ts = 0.0;
    s->vol = -1;
    s->vol_ltt = 0;
    s->last_trade_price = 0.0;
    return 0;
}

static PyObject *field_value(const State *s, int i) {
    if (!(s->has & HAS(i))) Py_RETURN_NONE;
    if (KINDS[i] == K_PX) return PyFloat_FromDouble(scaled_value(&s->t, s->f[i]));
    if (KINDS[i] == K_TS) return PyFloat_FromDouble(s->recv_ts);
    return PyLong_FromLongLong(s->f[i]);
}

static int set_item(PyObject *d, const char *key, PyObject *v) {
    if (v == NULL) return -1;
    int r = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return r;
}

/* as_dict() -> the quote dict of the Python path (same keys, same values) */
static PyObject *state_as_dict(State *s, PyObject *unused) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    if (set_item(d, "v", PyLong_FromLong(1)) < 0 || set_item(d, "seg", PyUnicode_FromString(s->seg)) < 0
        || set_item(d, "sid", PyLong_FromUnsignedLong(s->sid)) < 0) goto fail;
    for (int i = 0; i < N_FIELDS; i++)
        if (set_item(d, NAMES[i], field_value(s, i)) < 0) goto fail;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* One value of the Python dict into *out: 1 held, 0 None, -1 not holdable exactly (an error is cleared). */
static int hold(const State *s, int kind, PyObject *v, int64_t *out, double *ts) {
    if (v == Py_None) return 0;
    if (kind == K_INT) {
        if (!PyLong_Check(v)) return -1;
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (n == -1 && PyErr_Occurred())) { PyErr_Clear(); return -1; }
        *out = n;
        return 1;
    }
    if (!PyFloat_Check(v)) return -1;
    double x = PyFloat_AS_DOUBLE(v);
    if (kind == K_TS) {
        if (!(x >= 0.0 && x < RECV_TS_MAX)) return -1;
        *ts = x;
        return 1;
    }
    if (!(x >= 0.0 && x < PRICE_MAX)) return -1;
    int64_t n = (int64_t)rint(x * (double)POW10[s->t.dp]);
    if (scaled_value(&s->t, n) != x) return -1;
    *out = n;
    return 1;
}

/* load(quote, vol, vol_ltt, last_trade_price) -> True when this copy holds them exactly (it is then the
 * truth), else False (nothing changed but current, which is then False) */
static PyObject *state_load(State *s, PyObject *args) {
    PyObject *q;
    long long vol, vol_ltt;
    double ltp;
    if (!PyArg_ParseTuple(args, "O!LLd", &PyDict_Type, &q, &vol, &vol_ltt, &ltp)) return NULL;
    int64_t f[N_FIELDS] = {0};
    uint32_t has = 0;
    double ts = 0.0;
    s->current = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *v = PyDict_GetItemString(q, NAMES[i]);
        int r = v == NULL ? -1 : hold(s, KINDS[i], v, &f[i], &ts);
        if (r < 0) Py_RETURN_FALSE;
        if (r) has |= HAS(i);
    }
    memcpy(s->f, f, sizeof f);
    s->has = has;
    s->recv_ts = ts;
    s->vol = vol;
    s->vol_ltt = vol_ltt;
    s->last_trade_price = ltp;
    s->current = 1;
    Py_RETURN_TRUE;
}

/* set_tick(tick, decimals): a new tick; the state is then not current (the caller took it with as_dict) */
static PyObject *state_set_tick(State *s, PyObject *args) {
    double tick;
    long dp;
    Tick t;
    if (!PyArg_ParseTuple(args, "dl", &tick, &dp) || tick_of(tick, dp, &t) < 0) return NULL;
    s->t = t;
    s->current = 0;
    Py_RETURN_NONE;
}

static PyMethodDef state_methods[] = {
    {"as_dict", (PyCFunction)state_as_dict, METH_NOARGS, "the quote dict of the Python path"},
    {"load", (PyCFunction)state_load, METH_VARARGS,
     "load(quote, vol, vol_ltt, last_trade_price) -> whether this copy now holds them (and is current)"},
    {"set_tick", (PyCFunction)state_set_tick, METH_VARARGS, "set_tick(tick, decimals); the state is then stale"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef state_members[] = {
    {"current", T_INT, offsetof(State, current), 0, "this copy is the truth (else the Python copy is)"},
    {"vol", T_LONGLONG, offsetof(State, vol), READONLY, "cumulative volume baseline (-1: none yet)"},
    {"vol_ltt", T_LONGLONG, offsetof(State, vol_ltt), READONLY, "the baseline packet's LTT"},
    {"last_trade_price", T_DOUBLE, offsetof(State, last_trade_price), READONLY, "the last trade's price"},
    {NULL, 0, 0, 0, NULL},
};

PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "feed._fastfeed.State",
    .tp_basicsize = sizeof(State),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "State(seg, sid, tick, decimals): an instrument's quote state on the native path",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)state_init,
    .tp_methods = state_methods,
    .tp_members = state_members,
};
