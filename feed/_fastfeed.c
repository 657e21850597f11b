/*
 * Optional native fast path for the feed's hottest step: one Dhan "full" packet (code 8, 162 bytes) ->
 * the normalised quote and depth events as JSON bytes, with prices rounded to the instrument's tick.
 *
 * It produces the same events as the pure-Python path in feed/normalise.py (a property test compares
 * both on random packets); the Python path remains the reference and the fallback when this module is
 * not built. Prices are printed as exact fixed-point decimals: value = round(x / tick) ticks, printed with
 * the tick's number of decimals from integer arithmetic (no printf on the hot path).
 *
 * Only good packets are encoded here. A price that is NaN, infinite, negative or not below PRICE_MAX, or a
 * crossed top of book (best bid above best ask, both non-zero), makes encode_full return None: the caller
 * then takes the Python path, which classifies and counts the bad value (one rule set, one place). Every
 * price is checked before it is converted, so the conversion to integers is always defined. A tick that is
 * not a whole number of 10^-decimals units (2.5e-6 at 6 decimals) cannot be printed exactly from integers:
 * it is refused with ValueError, and the caller keeps such instruments on the Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const int64_t POW10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
#define FULL_SIZE 162
#define PRICE_MAX 1e9      /* as feed.normalise.PRICE_MAX: every price is >= 0 and below this */
#define RECV_TS_MAX 1e11   /* receive times are epoch seconds; beyond this the microseconds overflow nothing */

static inline uint32_t rd_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t rd_u16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline float rd_f32(const unsigned char *p) { float v; memcpy(&v, p, 4); return v; }

static inline char *put_str(char *o, const char *s) { size_t n = strlen(s); memcpy(o, s, n); return o + n; }

static inline char *put_u64(char *o, uint64_t v) {
    char tmp[24]; int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *o++ = tmp[--n];
    return o;
}

static inline char *put_i64(char *o, int64_t v) {
    if (v < 0) { *o++ = '-'; return put_u64(o, (uint64_t)(-v)); }
    return put_u64(o, (uint64_t)v);
}

/* scaled = price in units of 10^-dp; prints "I.FFF" (dp digits) */
static inline char *put_scaled(char *o, int64_t scaled, int dp) {
    if (scaled < 0) { *o++ = '-'; scaled = -scaled; }
    if (dp == 0) { o = put_u64(o, (uint64_t)scaled); *o++ = '.'; *o++ = '0'; return o; }
    o = put_u64(o, (uint64_t)(scaled / POW10[dp]));
    *o++ = '.';
    int64_t f = scaled % POW10[dp];
    for (int i = dp - 1; i >= 0; i--) { o[i] = (char)('0' + f % 10); f /= 10; }
    return o + dp;
}

typedef struct { double inv; int64_t tick_scaled; int dp; } Tick;

/* x is a checked price (0 <= x < PRICE_MAX): x * inv fits an int64. rint rounds half to even (the default rounding mode), as
 * Python's round() does, so both paths pick the same tick on an exact tie. */
static inline int64_t round_scaled(const Tick *t, double x) { return (int64_t)rint(x * t->inv) * t->tick_scaled; }
static inline int good_price(double x) { return x >= 0.0 && x < PRICE_MAX; }  /* false for NaN and +-inf */
/* good_price of a wire float32 from its bits: non-negative floats order as their bit patterns, and NaN, +inf
 * and every negative value but -0.0 lie above the bits of PRICE_MAX (1e9 is exact in float32) */
#define PRICE_MAX_F32_BITS 0x4E6E6B28u
static inline uint32_t bad_f32(const unsigned char *p) {
    uint32_t u = rd_u32(p);
    return (uint32_t)((u & 0x7FFFFFFFu) != 0) & (uint32_t)(u >= PRICE_MAX_F32_BITS);
}
static inline double scaled_value(const Tick *t, int64_t s) { return (double)s / (double)POW10[t->dp]; }

static inline char *put_price(char *o, const Tick *t, double x) { return put_scaled(o, round_scaled(t, x), t->dp); }

/* encode_full(buf, offset, tick, dp, seg, recv_ts, prev_close, prev_oi)
 * -> (quote_json, depth_json, ltp, ltq, ltt, volume, oi, bid|None, ask|None), or None for a bad packet */
static PyObject *encode_full_v(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8) { PyErr_SetString(PyExc_TypeError, "encode_full takes 8 arguments"); return NULL; }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    double tick = PyFloat_AsDouble(args[2]);
    long dp = PyLong_AsLong(args[3]);
    Py_ssize_t seg_len;
    const char *seg = PyUnicode_AsUTF8AndSize(args[4], &seg_len);
    double recv_ts = PyFloat_AsDouble(args[5]);
    PyObject *prev_close = args[6], *prev_oi = args[7];
    if (PyErr_Occurred() || seg == NULL) { PyBuffer_Release(&view); return NULL; }
    /* off > len - 162, not off + 162 > len: the sum overflows for offsets near PY_SSIZE_T_MAX */
    if (off < 0 || view.len < FULL_SIZE || off > view.len - FULL_SIZE || dp < 0 || dp > 6
        || !(tick > 0.0 && tick < PRICE_MAX) || seg_len > 32 || !(recv_ts >= 0.0 && recv_ts < RECV_TS_MAX)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "encode_full: bad offset, tick, decimals or receive time");
        return NULL;
    }
    double tick_units = tick * (double)POW10[dp];
    double tick_whole = rint(tick_units);
    if (tick_whole < 1.0 || fabs(tick_units - tick_whole) > 1e-9 * tick_units) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "encode_full: tick is not a whole number of 10^-decimals units");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)view.buf + off;
    Tick t = {1.0 / tick, (int64_t)tick_whole, (int)dp};

    uint32_t sid = rd_u32(p + 4);
    float ltp_f = rd_f32(p + 8);
    uint16_t ltq = rd_u16(p + 12);
    uint32_t ltt = rd_u32(p + 14);
    uint32_t volume = rd_u32(p + 22), tsq = rd_u32(p + 26), tbq = rd_u32(p + 30);
    uint32_t oi = rd_u32(p + 34), oih = rd_u32(p + 38), oil = rd_u32(p + 42);
    const unsigned char *d = p + 62;
    /* every price of the packet, checked before any is converted; None: the caller's Python path decides */
    uint32_t bad = bad_f32(p + 8) | bad_f32(p + 18) | bad_f32(p + 46) | bad_f32(p + 50) | bad_f32(p + 54)
                   | bad_f32(p + 58);
    for (int i = 0; i < 5; i++) bad |= bad_f32(d + 20 * i + 12) | bad_f32(d + 20 * i + 16);
    if (bad || (rd_f32(d + 12) > rd_f32(d + 16) && rd_f32(d + 16) > 0.0f)) goto bad;  /* or a crossed book */
    double pc = 0.0;
    if (prev_close != Py_None) {
        pc = PyFloat_AsDouble(prev_close);
        if (PyErr_Occurred()) goto fail;
        if (!good_price(pc)) goto bad;
    }
    int has_bid = rd_u32(d) != 0 || rd_f32(d + 12) != 0.0f;
    int has_ask = rd_u32(d + 4) != 0 || rd_f32(d + 16) != 0.0f;
    int64_t ltp_s = round_scaled(&t, ltp_f);
    int64_t bid_s = has_bid ? round_scaled(&t, rd_f32(d + 12)) : 0;
    int64_t ask_s = has_ask ? round_scaled(&t, rd_f32(d + 16)) : 0;

    char q[1024], *o = q;
    o = put_str(o, "{\"v\":1,\"seg\":\""); memcpy(o, seg, seg_len); o += seg_len;
    o = put_str(o, "\",\"sid\":"); o = put_u64(o, sid);
    o = put_str(o, ",\"ltp\":"); o = put_scaled(o, ltp_s, t.dp);
    o = put_str(o, ",\"ltq\":"); o = put_u64(o, ltq);
    o = put_str(o, ",\"exchange_ts\":"); o = put_u64(o, ltt);
    o = put_str(o, ",\"atp\":"); o = put_price(o, &t, rd_f32(p + 18));
    o = put_str(o, ",\"volume\":"); o = put_u64(o, volume);
    o = put_str(o, ",\"tsq\":"); o = put_u64(o, tsq);
    o = put_str(o, ",\"tbq\":"); o = put_u64(o, tbq);
    o = put_str(o, ",\"oi\":"); o = put_u64(o, oi);
    o = put_str(o, ",\"oi_high\":"); o = put_u64(o, oih);
    o = put_str(o, ",\"oi_low\":"); o = put_u64(o, oil);
    o = put_str(o, ",\"open\":"); o = put_price(o, &t, rd_f32(p + 46));
    o = put_str(o, ",\"close\":"); o = put_price(o, &t, rd_f32(p + 50));
    o = put_str(o, ",\"high\":"); o = put_price(o, &t, rd_f32(p + 54));
    o = put_str(o, ",\"low\":"); o = put_price(o, &t, rd_f32(p + 58));
    o = put_str(o, ",\"prev_close\":");
    if (prev_close == Py_None) o = put_str(o, "null");
    else o = put_price(o, &t, pc);
    o = put_str(o, ",\"prev_oi\":");
    if (prev_oi == Py_None) o = put_str(o, "null");
    else { long long po = PyLong_AsLongLong(prev_oi); if (PyErr_Occurred()) goto fail; o = put_i64(o, po); }
    o = put_str(o, ",\"bid\":"); if (has_bid) o = put_scaled(o, bid_s, t.dp); else o = put_str(o, "null");
    o = put_str(o, ",\"ask\":"); if (has_ask) o = put_scaled(o, ask_s, t.dp); else o = put_str(o, "null");
    o = put_str(o, ",\"recv_ts\":");
    {
        int64_t us = (int64_t)rint(recv_ts * 1e6);
        o = put_scaled(o, us, 6);
    }
    o = put_str(o, ",\"src\":8}");

    char dj[768], *e = dj;
    e = put_str(e, "{\"v\":1,\"seg\":\""); memcpy(e, seg, seg_len); e += seg_len;
    e = put_str(e, "\",\"sid\":"); e = put_u64(e, sid);
    e = put_str(e, ",\"exchange_ts\":"); e = put_u64(e, ltt);
    e = put_str(e, ",\"recv_ts\":"); e = put_scaled(e, (int64_t)rint(recv_ts * 1e6), 6);
    for (int side = 0; side < 2; side++) {
        e = put_str(e, side == 0 ? ",\"bids\":[" : "],\"asks\":[");
        for (int i = 0; i < 5; i++) {
            const unsigned char *lv = d + 20 * i;
            if (i) *e++ = ',';
            *e++ = '[';
            e = put_price(e, &t, rd_f32(lv + (side == 0 ? 12 : 16)));
            *e++ = ',';
            e = put_u64(e, rd_u32(lv + (side == 0 ? 0 : 4)));
            *e++ = ',';
            e = put_u64(e, rd_u16(lv + (side == 0 ? 8 : 10)));
            *e++ = ']';
        }
    }
    e = put_str(e, "]}");
    PyBuffer_Release(&view);

    PyObject *bid = has_bid ? PyFloat_FromDouble(scaled_value(&t, bid_s)) : (Py_INCREF(Py_None), Py_None);
    PyObject *ask = has_ask ? PyFloat_FromDouble(scaled_value(&t, ask_s)) : (Py_INCREF(Py_None), Py_None);
    return Py_BuildValue("(y#y#dIIIINN)", q, (Py_ssize_t)(o - q), dj, (Py_ssize_t)(e - dj),
                         scaled_value(&t, ltp_s), (unsigned int)ltq, (unsigned int)ltt, (unsigned int)volume,
                         (unsigned int)oi, bid, ask);
bad:
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode_full", (PyCFunction)(void (*)(void))encode_full_v, METH_FASTCALL,
     "encode_full(buf, offset, tick, decimals, seg, recv_ts, prev_close, prev_oi) -> "
     "(quote_json, depth_json, ltp, ltq, ltt, volume, oi, bid, ask), or None when a price is bad"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastfeed", "Native fast path of feed.normalise", -1, methods};

PyMODINIT_FUNC PyInit__fastfeed(void) { return PyModule_Create(&module); }
