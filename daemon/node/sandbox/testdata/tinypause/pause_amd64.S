# The sandbox's PID 1 on amd64: the whole program of the tiny pause.
# It ignores SIGCHLD, so that the kernel reaps every child (orphans of the
# pod's PID namespace included) with no zombie left; blocks SIGTERM and
# SIGINT and waits for one of them, then exits 0. It touches no file and
# needs no memory of its own: the kernel reads its two constants in place.
	.text
	.globl _start
_start:
	mov	$13, %eax		# rt_sigaction(SIGCHLD, &ignore, NULL, 8)
	mov	$17, %edi
	lea	ignore(%rip), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	mov	$14, %eax		# rt_sigprocmask(SIG_BLOCK, &stop, NULL, 8)
	xor	%edi, %edi
	lea	stop(%rip), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
wait:
	mov	$128, %eax		# rt_sigtimedwait(&stop, NULL, NULL, 8)
	lea	stop(%rip), %rdi
	xor	%esi, %esi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	test	%rax, %rax		# an error (negative): wait again
	js	wait
	mov	$231, %eax		# exit_group(0)
	xor	%edi, %edi
	syscall
	.balign	8
ignore:				# struct sigaction: SIG_IGN, no flags, no restorer, empty mask
	.quad	1, 0, 0, 0
stop:					# sigset of SIGINT (2) and SIGTERM (15)
	.quad	(1 << 1) | (1 << 14)
