# The first program of a pod that holds its own network namespace (one
# container, no sandbox), on amd64: the whole program of the network gate.
# The engine starts the container with network mode "none" and the agent
# wires its interface right after the start, ending with the default route.
# The gate waits until /proc/net/route shows that route (the agent wakes it
# with SIGCONT once wired; it also looks every 20 ms), restores the signal
# mask it was given, and runs the pod's command, argv[1...], looked up in
# PATH as execvp does (a name with a slash as it is). If nothing runs, it
# says so on stderr and exits 127. It needs no memory but 8 kB of its stack.
	.text
	.globl _start
_start:
	mov	(%rsp), %r12		# argc
	lea	8(%rsp), %r13		# argv
	lea	16(%rsp,%r12,8), %r14	# envp, after argv's NULL
	sub	$8200, %rsp		# 0: route table, 4096: path, 8192: old mask
	mov	$14, %eax		# rt_sigprocmask(SIG_BLOCK, &cont, &old, 8)
	xor	%edi, %edi
	lea	cont(%rip), %rsi
	lea	8192(%rsp), %rdx
	mov	$8, %r10d
	syscall
look:
	mov	$2, %eax		# open("/proc/net/route", O_RDONLY)
	lea	route(%rip), %rdi
	xor	%esi, %esi
	xor	%edx, %edx
	syscall
	test	%rax, %rax
	js	wait
	mov	%rax, %r15
	xor	%eax, %eax		# read(fd, buf, 4096)
	mov	%r15, %rdi
	mov	%rsp, %rsi
	mov	$4096, %edx
	syscall
	mov	%rax, %rbx
	mov	$3, %eax		# close(fd)
	mov	%r15, %rdi
	syscall
	test	%rbx, %rbx
	jle	wait
	mov	%rsp, %rsi		# scan from here
	lea	(%rsp,%rbx), %rcx	# to here
line:					# find the line's first tab
	cmp	%rcx, %rsi
	jae	wait
	movzbl	(%rsi), %eax
	inc	%rsi
	cmp	$9, %al
	jne	line
	lea	9(%rsi), %rax		# the destination "00000000\t" is the default route
	cmp	%rcx, %rax
	ja	wait
	movabs	$0x3030303030303030, %rax
	cmp	(%rsi), %rax
	jne	skip
	cmpb	$9, 8(%rsi)
	je	run
skip:					# to the next line
	cmp	%rcx, %rsi
	jae	wait
	movzbl	(%rsi), %eax
	inc	%rsi
	cmp	$10, %al
	jne	skip
	jmp	line
wait:
	mov	$128, %eax		# rt_sigtimedwait(&cont, NULL, &tick, 8)
	lea	cont(%rip), %rdi
	xor	%esi, %esi
	lea	tick(%rip), %rdx
	mov	$8, %r10d
	syscall
	jmp	look
run:
	mov	$14, %eax		# rt_sigprocmask(SIG_SETMASK, &old, NULL, 8)
	mov	$2, %edi
	lea	8192(%rsp), %rsi
	xor	%edx, %edx
	mov	$8, %r10d
	syscall
	lea	8(%r13), %rbp		# the command's argv
	mov	(%rbp), %rbx		# its name
	test	%rbx, %rbx
	jz	fail
	mov	%rbx, %rsi		# measure it; look for a slash
	xor	%edx, %edx
name:
	movzbl	(%rsi), %eax
	inc	%rsi
	cmp	$47, %al
	jne	1f
	mov	$1, %edx
1:	test	%al, %al
	jnz	name
	mov	%rsi, %r15
	sub	%rbx, %r15		# the name's length with its NUL
	test	%edx, %edx
	jz	search
	mov	$59, %eax		# execve(name, argv+1, envp)
	mov	%rbx, %rdi
	mov	%rbp, %rsi
	mov	%r14, %rdx
	syscall
	jmp	fail
search:
	lea	defpath(%rip), %r8	# PATH, or the engine's default
	mov	%r14, %r9
env:
	mov	(%r9), %rsi
	test	%rsi, %rsi
	jz	walk
	add	$8, %r9
	cmpl	$0x48544150, (%rsi)	# "PATH"
	jne	env
	cmpb	$61, 4(%rsi)		# "="
	jne	env
	lea	5(%rsi), %r8
walk:					# one directory: r8 to the next ':' or NUL
	mov	%r8, %r9
seg:
	movzbl	(%r9), %eax
	test	%al, %al
	jz	1f
	cmp	$58, %al
	je	1f
	inc	%r9
	jmp	seg
1:	mov	%r9, %rcx
	sub	%r8, %rcx		# its length
	lea	2(%rcx,%r15), %rax	# with "." or not, "/" and the name
	cmp	$4096, %rax
	ja	next
	lea	4096(%rsp), %rdi
	mov	%r8, %rsi
	test	%rcx, %rcx
	jnz	2f
	movb	$46, (%rdi)		# an empty directory is "."
	inc	%rdi
2:	rep movsb
	movb	$47, (%rdi)
	inc	%rdi
	mov	%rbx, %rsi
	mov	%r15, %rcx
	rep movsb
	mov	$59, %eax		# execve(dir/name, argv+1, envp)
	lea	4096(%rsp), %rdi
	mov	%rbp, %rsi
	mov	%r14, %rdx
	syscall
next:
	cmpb	$0, (%r9)
	je	fail
	lea	1(%r9), %r8
	jmp	walk
fail:
	mov	$1, %eax		# write(2, msg, its length)
	mov	$2, %edi
	lea	msg(%rip), %rsi
	mov	$msgend-msg, %edx
	syscall
	test	%rbx, %rbx
	jz	3f
	mov	$1, %eax		# write(2, name, its length)
	mov	$2, %edi
	mov	%rbx, %rsi
	lea	-1(%r15), %rdx
	syscall
3:	mov	$1, %eax		# write(2, "\n", 1)
	mov	$2, %edi
	lea	msgend(%rip), %rsi
	mov	$1, %edx
	syscall
	mov	$231, %eax		# exit_group(127)
	mov	$127, %edi
	syscall
	.balign	8
cont:					# sigset of SIGCONT (18)
	.quad	1 << 17
tick:					# struct timespec: 20 ms
	.quad	0, 20000000
route:
	.asciz	"/proc/net/route"
defpath:
	.asciz	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
msg:
	.ascii	"shoal: the container's command was not found or could not run: "
msgend:
	.ascii	"\n"
