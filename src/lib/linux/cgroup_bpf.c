/* cgroup v2 device filter: linux.resources.devices compiled to a
 * BPF_PROG_TYPE_CGROUP_DEVICE program, loaded and attached with raw bpf(2). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "linux/cgroup_internal.h"

/* Registers of the generated program. */
enum {
	R0 = BPF_REG_0,  /* verdict */
	R1 = BPF_REG_1,  /* ctx, then scratch */
	R_TYPE = BPF_REG_2,
	R_ACC = BPF_REG_3,  /* requested access bits not yet allowed */
	R_MAJ = BPF_REG_4,
	R_MIN = BPF_REG_5,
};

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = { .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
	return i;
}

#define LDX_W(dst, src, off) insn(BPF_LDX | BPF_MEM | BPF_W, (dst), (src), (off), 0)
#define ALU32_IMM(op, dst, imm) insn(BPF_ALU | (op) | BPF_K, (dst), 0, 0, (imm))
#define MOV32_REG(dst, src) insn(BPF_ALU | BPF_MOV | BPF_X, (dst), (src), 0, 0)
#define JMP32_IMM(op, dst, imm, off) insn(BPF_JMP32 | (op) | BPF_K, (dst), 0, (off), (imm))
#define EXIT() insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static uint32_t access_bits(const char *access)
{
	uint32_t a = 0;
	for (const char *c = access; *c; c++) {
		if (*c == 'r')
			a |= BPF_DEVCG_ACC_READ;
		else if (*c == 'w')
			a |= BPF_DEVCG_ACC_WRITE;
		else if (*c == 'm')
			a |= BPF_DEVCG_ACC_MKNOD;
	}
	return a;
}

int cg_bpf_devices_build(const struct spec_res_device *rules, size_t n, struct bpf_insn **insns,
			 size_t *n_insns)
{
	/* 6 instructions of prologue, at most 12 per rule, 2 of epilogue. */
	size_t cap = 8 + 12 * n;
	struct bpf_insn *p = calloc(cap, sizeof(*p));
	if (!p)
		return -ENOMEM;
	size_t k = 0;
	/* ctx: access_type = (access << 16) | type, major, minor (all u32). */
	p[k++] = LDX_W(R_TYPE, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type));
	p[k++] = MOV32_REG(R_ACC, R_TYPE);
	p[k++] = ALU32_IMM(BPF_RSH, R_ACC, 16);
	p[k++] = ALU32_IMM(BPF_AND, R_TYPE, 0xffff);
	p[k++] = LDX_W(R_MAJ, R1, offsetof(struct bpf_cgroup_dev_ctx, major));
	p[k++] = LDX_W(R_MIN, R1, offsetof(struct bpf_cgroup_dev_ctx, minor));

	/* Rules are walked last to first, so the first one to match a bit is
	 * the last in the config: it decides that bit.  A deny that covers any
	 * pending bit refuses; an allow clears the bits it covers and grants
	 * once none are left.  Whatever no rule covers is denied. */
	for (size_t i = n; i-- > 0;) {
		const struct spec_res_device *r = &rules[i];
		uint32_t acc = access_bits(r->access);
		size_t jumps[5]; /* type, major, minor, access, still-pending */
		size_t nj = 0;
		if (r->type != 'a') {
			jumps[nj++] = k;
			p[k++] = JMP32_IMM(BPF_JNE, R_TYPE, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, 0);
		}
		if (r->major >= 0) {
			jumps[nj++] = k;
			p[k++] = JMP32_IMM(BPF_JNE, R_MAJ, (int32_t) (uint32_t) r->major, 0);
		}
		if (r->minor >= 0) {
			jumps[nj++] = k;
			p[k++] = JMP32_IMM(BPF_JNE, R_MIN, (int32_t) (uint32_t) r->minor, 0);
		}
		p[k++] = MOV32_REG(R1, R_ACC);
		p[k++] = ALU32_IMM(BPF_AND, R1, (int32_t) acc);
		jumps[nj++] = k;
		p[k++] = JMP32_IMM(BPF_JEQ, R1, 0, 0);
		if (r->allow) {
			p[k++] = ALU32_IMM(BPF_AND, R_ACC, (int32_t) ~acc);
			jumps[nj++] = k;
			p[k++] = JMP32_IMM(BPF_JNE, R_ACC, 0, 0);
			p[k++] = ALU32_IMM(BPF_MOV, R0, 1);
			p[k++] = EXIT();
		} else {
			p[k++] = ALU32_IMM(BPF_MOV, R0, 0);
			p[k++] = EXIT();
		}
		/* Every "does not match" jump lands on the next rule. */
		for (size_t j = 0; j < nj; j++)
			p[jumps[j]].off = (int16_t) (k - jumps[j] - 1);
	}
	p[k++] = ALU32_IMM(BPF_MOV, R0, 0);
	p[k++] = EXIT();
	*insns = p;
	*n_insns = k;
	return 0;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* Ids of the device programs attached directly to the cgroup. */
static int query_attached(int cgfd, uint32_t **ids, uint32_t *n)
{
	uint32_t cap = 16;
	for (;;) {
		uint32_t *buf = calloc(cap, sizeof(*buf));
		if (!buf)
			return -ENOMEM;
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.query.target_fd = (uint32_t) cgfd;
		attr.query.attach_type = BPF_CGROUP_DEVICE;
		attr.query.prog_ids = (uint64_t) (uintptr_t) buf;
		attr.query.prog_cnt = cap;
		if (sys_bpf(BPF_PROG_QUERY, &attr) == 0) {
			*ids = buf;
			*n = attr.query.prog_cnt;
			return 0;
		}
		int e = errno;
		free(buf);
		if (e != ENOSPC || cap >= 4096)
			return -e;
		cap *= 4;
	}
}

int cg_bpf_devices_apply(const char *dir, const struct spec_res_device *rules, size_t n,
			 const char *jp, struct berth_error *err)
{
	_cleanup_free_ struct bpf_insn *insns = NULL;
	size_t n_insns = 0;
	if (cg_bpf_devices_build(rules, n, &insns, &n_insns) < 0)
		return berth_err(err, ENOMEM, "%s: out of memory", jp);
	if (n_insns > BPF_MAXINSNS)
		return berth_err(err, E2BIG, "%s: %zu device rules make a program of %zu instructions, more "
				 "than the kernel's %d", jp, n, n_insns, BPF_MAXINSNS);

	_cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return berth_errno(err, errno, "%s: opening %s", jp, dir);

	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t) (uintptr_t) insns;
	attr.insn_cnt = (uint32_t) n_insns;
	attr.license = (uint64_t) (uintptr_t) "Apache-2.0";
	snprintf(attr.prog_name, sizeof(attr.prog_name), "berth_devices");
	_cleanup_close_ int prog = (int) sys_bpf(BPF_PROG_LOAD, &attr);
	if (prog < 0) {
		int e = errno;
		/* Load again with the verifier log, only to explain the failure. */
		_cleanup_free_ char *log = calloc(1, 65536);
		if (log) {
			attr.log_buf = (uint64_t) (uintptr_t) log;
			attr.log_size = 65536;
			attr.log_level = 1;
			int again = (int) sys_bpf(BPF_PROG_LOAD, &attr);
			if (again >= 0)
				close(again);
			char *last = log[0] ? log : NULL;
			for (char *nl; last && (nl = strchr(last, '\n')) && nl[1];)
				last = nl + 1;
			if (last && *last)
				return berth_errno(err, e, "%s: loading the eBPF device filter (verifier: %.200s)",
						   jp, last);
		}
		return berth_errno(err, e, "%s: loading the eBPF device filter", jp);
	}

	_cleanup_free_ uint32_t *old = NULL;
	uint32_t n_old = 0;
	int rc = query_attached(cgfd, &old, &n_old);
	if (rc < 0)
		return berth_errno(err, rc, "%s: listing device filters attached to %s", jp, dir);

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t) cgfd;
	attr.attach_bpf_fd = (uint32_t) prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
		return berth_errno(err, errno, "%s: attaching the eBPF device filter to %s", jp, dir);

	/* The new filter is in place before the old ones go: in between both
	 * apply, which can only be stricter, never looser. */
	for (uint32_t i = 0; i < n_old; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.prog_id = old[i];
		_cleanup_close_ int ofd = (int) sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
		if (ofd < 0) {
			if (errno == ENOENT)
				continue;
			return berth_errno(err, errno, "%s: opening the previous device filter (id %u) of %s",
					   jp, old[i], dir);
		}
		memset(&attr, 0, sizeof(attr));
		attr.target_fd = (uint32_t) cgfd;
		attr.attach_bpf_fd = (uint32_t) ofd;
		attr.attach_type = BPF_CGROUP_DEVICE;
		if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
			return berth_errno(err, errno, "%s: detaching the previous device filter (id %u) of %s",
					   jp, old[i], dir);
	}
	return 0;
}
