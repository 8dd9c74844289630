// The first program of a pod that holds its own network namespace (one
// container, no sandbox), on arm64: the whole program of the network gate.
// The engine starts the container with network mode "none" and the agent
// wires its interface right after the start, ending with the default route.
// The gate waits until /proc/net/route shows that route (the agent wakes it
// with SIGCONT once wired; it also looks every 20 ms), restores the signal
// mask it was given, and runs the pod's command, argv[1...], looked up in
// PATH as execvp does (a name with a slash as it is). If nothing runs, it
// says so on stderr and exits 127. It needs no memory but 8 kB of its stack.
// System calls keep every register but x0, so the values that live across
// them stay in x19-x24; the data is read in place, next to the code.
	.text
	.globl _start
_start:
	ldr	x19, [sp]		// argc
	add	x20, sp, #8		// argv
	add	x21, x20, x19, lsl #3
	add	x21, x21, #8		// envp, after argv's NULL
	sub	sp, sp, #8192		// 0: route table, 4096: path, 8192: old mask
	sub	sp, sp, #16		// (8208 in all: sp stays 16-byte aligned)
	mov	x0, #0			// rt_sigprocmask(SIG_BLOCK, &cont, &old, 8)
	adr	x1, cont
	add	x2, sp, #8192
	mov	x3, #8
	mov	x8, #135
	svc	#0
look:
	mov	x0, #-100		// openat(AT_FDCWD, "/proc/net/route", O_RDONLY)
	adr	x1, route
	mov	x2, #0
	mov	x8, #56
	svc	#0
	tbnz	x0, #63, wait		// an error (negative): look again later
	mov	x22, x0
	mov	x1, sp			// read(fd, buf, 4096)
	mov	x2, #4096
	mov	x8, #63
	svc	#0
	mov	x23, x0
	mov	x0, x22			// close(fd)
	mov	x8, #57
	svc	#0
	cmp	x23, #0
	b.le	wait
	mov	x1, sp			// scan from here
	add	x2, sp, x23		// to here
	mov	x3, #0x3030303030303030	// "00000000"
line:					// find the line's first tab
	cmp	x1, x2
	b.hs	wait
	ldrb	w0, [x1], #1
	cmp	w0, #9
	b.ne	line
	add	x0, x1, #9		// the destination "00000000\t" is the default route
	cmp	x0, x2
	b.hi	wait
	ldr	x0, [x1]		// (unaligned: allowed for user memory)
	cmp	x0, x3
	b.ne	skip
	ldrb	w0, [x1, #8]
	cmp	w0, #9
	b.eq	run
skip:					// to the next line
	cmp	x1, x2
	b.hs	wait
	ldrb	w0, [x1], #1
	cmp	w0, #10
	b.ne	skip
	b	line
wait:
	adr	x0, cont		// rt_sigtimedwait(&cont, NULL, &tick, 8)
	mov	x1, #0
	adr	x2, tick
	mov	x3, #8
	mov	x8, #137
	svc	#0
	b	look
run:
	mov	x0, #2			// rt_sigprocmask(SIG_SETMASK, &old, NULL, 8)
	add	x1, sp, #8192
	mov	x2, #0
	mov	x3, #8
	mov	x8, #135
	svc	#0
	add	x24, x20, #8		// the command's argv
	ldr	x23, [x24]		// its name
	cbz	x23, fail
	mov	x1, x23			// measure it; count its slashes
	mov	x2, #0
name:
	ldrb	w0, [x1], #1
	cmp	w0, #47
	cinc	x2, x2, eq
	cbnz	w0, name
	sub	x22, x1, x23		// the name's length with its NUL
	cbz	x2, search
	mov	x0, x23			// execve(name, argv+1, envp)
	mov	x1, x24
	mov	x2, x21
	mov	x8, #221
	svc	#0
	b	fail
search:
	adr	x9, defpath		// PATH, or the engine's default
	mov	x10, x21
	mov	w3, #0x4150		// "PATH"
	movk	w3, #0x4854, lsl #16
env:
	ldr	x1, [x10], #8
	cbz	x1, walk
	ldr	w0, [x1]
	cmp	w0, w3
	b.ne	env
	ldrb	w0, [x1, #4]
	cmp	w0, #61			// "="
	b.ne	env
	add	x9, x1, #5
walk:					// one directory: x9 to the next ':' or NUL (x10)
	mov	x10, x9
seg:
	ldrb	w0, [x10]
	cbz	w0, dir
	cmp	w0, #58
	b.eq	dir
	add	x10, x10, #1
	b	seg
dir:
	sub	x4, x10, x9		// its length
	add	x4, x4, x22		// with "." or not, "/" and the name
	add	x4, x4, #2
	cmp	x4, #4096
	b.hi	next
	add	x0, sp, #4096
	mov	x5, x0
	cmp	x9, x10
	b.ne	copy
	mov	w6, #46			// an empty directory is "."
	strb	w6, [x5], #1
copy:					// the directory, then "/", then the name and its NUL
	cmp	x9, x10
	b.hs	slash
	ldrb	w6, [x9], #1
	strb	w6, [x5], #1
	b	copy
slash:
	mov	w6, #47
	strb	w6, [x5], #1
	mov	x1, x23
copyname:
	ldrb	w6, [x1], #1
	strb	w6, [x5], #1
	cbnz	w6, copyname
	mov	x1, x24			// execve(dir/name, argv+1, envp)
	mov	x2, x21
	mov	x8, #221
	svc	#0
next:
	ldrb	w0, [x10]
	cbz	w0, fail
	add	x9, x10, #1
	b	walk
fail:
	mov	x0, #2			// write(2, msg, its length)
	adr	x1, msg
	mov	x2, #msgend-msg
	mov	x8, #64
	svc	#0
	cbz	x23, newline
	mov	x0, #2			// write(2, name, its length)
	mov	x1, x23
	sub	x2, x22, #1
	mov	x8, #64
	svc	#0
newline:
	mov	x0, #2			// write(2, "\n", 1)
	adr	x1, msgend
	mov	x2, #1
	mov	x8, #64
	svc	#0
	mov	x0, #127		// exit_group(127)
	mov	x8, #94
	svc	#0
	.balign	8
cont:					// sigset of SIGCONT (18)
	.quad	1 << 17
tick:					// struct timespec: 20 ms
	.quad	0, 20000000
route:
	.asciz	"/proc/net/route"
defpath:
	.asciz	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
msg:
	.ascii	"shoal: the container's command was not found or could not run: "
msgend:
	.ascii	"\n"
