// The sandbox's PID 1 on arm64: the whole program of the tiny pause.
// It ignores SIGCHLD, so that the kernel reaps every child (orphans of the
// pod's PID namespace included) with no zombie left; blocks SIGTERM and
// SIGINT and waits for one of them, then exits 0. It touches no file and
// needs no memory of its own: the kernel reads its two constants in place.
	.text
	.globl _start
_start:
	mov	x0, #17			// rt_sigaction(SIGCHLD, &ignore, NULL, 8)
	adr	x1, ignore
	mov	x2, #0
	mov	x3, #8
	mov	x8, #134
	svc	#0
	mov	x0, #0			// rt_sigprocmask(SIG_BLOCK, &stop, NULL, 8)
	adr	x1, stop
	mov	x2, #0
	mov	x3, #8
	mov	x8, #135
	svc	#0
wait:
	adr	x0, stop		// rt_sigtimedwait(&stop, NULL, NULL, 8)
	mov	x1, #0
	mov	x2, #0
	mov	x3, #8
	mov	x8, #137
	svc	#0
	tbnz	x0, #63, wait		// an error (negative): wait again
	mov	x0, #0			// exit_group(0)
	mov	x8, #94
	svc	#0
	.balign	8
ignore:				// struct sigaction: SIG_IGN, no flags, no restorer, empty mask
	.quad	1, 0, 0, 0
stop:					// sigset of SIGINT (2) and SIGTERM (15)
	.quad	(1 << 1) | (1 << 14)
