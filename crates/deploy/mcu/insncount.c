/* insncount: exact guest-instruction counts for tinyforge firmware, as a QEMU
 * TCG plugin (built with the host C compiler as a shared object).
 *
 * Debian's QEMU supports plugins but ships no qemu-plugin.h, so the few API
 * calls used here are declared by hand; their signatures are unchanged since
 * plugin API v1, and QEMU 10 loads plugins declaring versions 2 to 4.
 *
 * Arguments: begin=ADDR,end=ADDR[,mark=ADDR],out=FILE
 * Counting runs from entering `begin` to entering `end` (one region per pass);
 * entering `mark` inside a region closes a segment, so per-layer counts come
 * out when the firmware calls the mark function before each layer.
 * Output, one line per region: "region <instructions> <seg0> <seg1> ...".
 *
 * Speed: most translation blocks are counted with one callback per block;
 * only blocks that contain a marker address get per-instruction callbacks. */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};
typedef void (*udata_cb)(unsigned int vcpu, void *userdata);
#define EXPORT __attribute__((visibility("default")))

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, udata_cb cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, udata_cb cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
                                    void (*cb)(qemu_plugin_id_t, void *), void *userdata);

EXPORT int qemu_plugin_version = 2;

static uint64_t total;        /* every guest instruction executed */
static uint64_t region_start; /* `total` when the current region began */
static uint64_t seg_start;    /* `total` when the current segment began */
static bool inside;
static uint64_t begin_pc = UINT64_MAX, end_pc = UINT64_MAX, mark_pc = UINT64_MAX;
static const char *out_path;
static FILE *out;

/* segments of the current region, flushed to `out` when it ends */
static uint64_t *segs;
static size_t n_segs, cap_segs;

static void push_seg(uint64_t v)
{
    if (n_segs == cap_segs) {
        cap_segs = cap_segs ? cap_segs * 2 : 64;
        uint64_t *p = realloc(segs, cap_segs * sizeof *p);
        if (!p) return; /* out of memory: drop the breakdown, totals stay exact */
        segs = p;
    }
    segs[n_segs++] = v;
}

static void on_tb(unsigned int vcpu, void *n) { (void)vcpu; total += (uintptr_t)n; }
static void on_insn(unsigned int vcpu, void *ud) { (void)vcpu; (void)ud; total++; }

static void on_begin(unsigned int vcpu, void *ud)
{
    (void)vcpu; (void)ud;
    if (!inside) {
        inside = true;
        region_start = seg_start = total;
        n_segs = 0;
    }
    total++;
}

static void on_mark(unsigned int vcpu, void *ud)
{
    (void)vcpu; (void)ud;
    if (inside) {
        push_seg(total - seg_start);
        seg_start = total;
    }
    total++;
}

static void on_end(unsigned int vcpu, void *ud)
{
    (void)vcpu; (void)ud;
    if (inside) {
        inside = false;
        push_seg(total - seg_start);
        fprintf(out, "region %" PRIu64, total - region_start);
        for (size_t i = 0; i < n_segs; i++) fprintf(out, " %" PRIu64, segs[i]);
        fputc('\n', out);
    }
    total++;
}

static bool is_marker(uint64_t pc) { return pc == begin_pc || pc == end_pc || pc == mark_pc; }

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    bool marked = false;
    for (size_t i = 0; i < n && !marked; i++)
        marked = is_marker(qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, i)));
    if (!marked) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        udata_cb cb = pc == begin_pc ? on_begin : pc == end_pc ? on_end : pc == mark_pc ? on_mark : on_insn;
        qemu_plugin_register_vcpu_insn_exec_cb(insn, cb, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *ud)
{
    (void)id; (void)ud;
    fprintf(out, "total %" PRIu64 "\n", total);
    if (out != stderr) fclose(out);
    free(segs);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "insncount: bad argument %s\n", argv[i]);
            return -1;
        }
        *eq = 0;
        const char *v = eq + 1;
        /* Thumb function addresses carry bit 0; instruction addresses do not */
        if (!strcmp(argv[i], "begin")) begin_pc = strtoull(v, NULL, 0) & ~1ull;
        else if (!strcmp(argv[i], "end")) end_pc = strtoull(v, NULL, 0) & ~1ull;
        else if (!strcmp(argv[i], "mark")) mark_pc = strtoull(v, NULL, 0) & ~1ull;
        else if (!strcmp(argv[i], "out")) out_path = v;
        else {
            fprintf(stderr, "insncount: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    out = out_path ? fopen(out_path, "w") : stderr;
    if (!out) {
        fprintf(stderr, "insncount: cannot write %s\n", out_path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
