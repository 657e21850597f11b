/*
 * Shared by the native fast path's two files (feed/_fastfeed.c: the packets; feed/fastfeed_state.c: an
 * instrument's state). Wire readers, the fixed-point price printer and the State layout.
 *
 * Prices are held and printed as exact fixed-point decimals: a price is an int64 count of 10^-dp units
 * (dp: the tick's decimals), printed from integer arithmetic (no printf on the hot path). Its Python value
 * is count / 10^dp, the double nearest that decimal, as the Python path's round(.., dp) gives.
 */
#ifndef FASTFEED_H
#define FASTFEED_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define PRICE_MAX 1e9      /* as feed.normalise.PRICE_MAX: every price is >= 0 and below this */
#define RECV_TS_MAX 1e11   /* receive times are epoch seconds; beyond this the microseconds overflow nothing */
#define SEG_MAX 32         /* a segment name longer than this keeps its instruments on the Python path */

static const int64_t POW10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};

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
    if (v < 0) { *o++ = '-'; return put_u64(o, (uint64_t)0 - (uint64_t)v); }
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

/* A receive time (0 <= ts < RECV_TS_MAX) to six decimals, correctly rounded (half to even on the exact binary
 * value) as Python's f"{ts:.6f}" (the writer's rendering) does: rint(ts * 1e6) alone rounds the already-rounded
 * product and is a microsecond off now and then, so a stored recv_ts would differ from the journal's. fma gives
 * the product's exact error e; the exact offset of ts * 1e6 from r is (p - r) + e, both terms on the same binary
 * grid as ts, so the sum is exact. */
static inline int64_t micros_of(double ts) {
    double p = ts * 1e6, e = fma(ts, 1e6, -p), r = rint(p), d = (p - r) + e;
    int odd = fmod(r, 2.0) != 0.0;
    if (d > 0.5 || (d == 0.5 && odd)) r += 1.0;
    else if (d < -0.5 || (d == -0.5 && odd)) r -= 1.0;
    return (int64_t)r;
}
static inline char *put_ts(char *o, double ts) { return put_scaled(o, micros_of(ts), 6); }

typedef struct { double inv; int64_t tick_scaled; int dp; } Tick;

/* x is a checked price (0 <= x < PRICE_MAX): x * inv fits an int64. rint rounds half to even (the default
 * rounding mode), as Python's round() does, so both paths pick the same tick on an exact tie. */
static inline int64_t round_scaled(const Tick *t, double x) { return (int64_t)rint(x * t->inv) * t->tick_scaled; }
static inline double scaled_value(const Tick *t, int64_t s) { return (double)s / (double)POW10[t->dp]; }

/* good_price of a wire float32 from its bits: non-negative floats order as their bit patterns, and NaN, +inf
 * and every negative value but -0.0 lie above the bits of PRICE_MAX (1e9 is exact in float32) */
#define PRICE_MAX_F32_BITS 0x4E6E6B28u
static inline uint32_t bad_f32(const unsigned char *p) {
    uint32_t u = rd_u32(p);
    return (uint32_t)((u & 0x7FFFFFFFu) != 0) & (uint32_t)(u >= PRICE_MAX_F32_BITS);
}

/* The fields of a quote event after v, seg and sid, in its order. A clear bit in State.has is None. */
enum {
    F_LTP, F_LTQ, F_LTT, F_ATP, F_VOLUME, F_TSQ, F_TBQ, F_OI, F_OI_HIGH, F_OI_LOW, F_OPEN, F_CLOSE, F_HIGH,
    F_LOW, F_PREV_CLOSE, F_PREV_OI, F_BID, F_ASK, F_RECV_TS, F_SRC, N_FIELDS
};
#define HAS(f) (1u << (f))

/* An instrument's merged quote state and trade baseline, as feed.normalise._Inst holds them in Python.
 * ``current``: this copy is the instrument's truth; the Python copy is stale until State.as_dict. */
typedef struct {
    PyObject_HEAD
    Tick t;
    uint32_t sid;
    int current;
    uint32_t has;
    int64_t f[N_FIELDS];   /* prices as counts of 10^-dp, the rest as they are; f[F_RECV_TS] unused */
    double recv_ts;
    long long vol, vol_ltt; /* the trade baseline: cumulative volume (-1: none yet) and its packet's LTT */
    double last_trade_price;
    Py_ssize_t seg_len;
    char seg[SEG_MAX + 1];
} State;

extern PyTypeObject StateType;

/* The tick of ``tick`` at ``dp`` decimals, or -1 with ValueError when it is no whole number of 10^-dp. */
int tick_of(double tick, long dp, Tick *out);
char *put_head(char *o, const State *s);   /* {"v":1,"seg":"..","sid":N */
char *put_quote(char *o, const State *s);  /* the whole quote event of the state */

#endif
