package sandbox

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// The tiny pause is the sandbox's PID 1 on the architectures below: a
// static ELF program of a few hundred bytes that ignores SIGCHLD (so the
// kernel reaps every child and orphan of the pod's PID namespace), blocks
// SIGTERM and SIGINT, waits for one of them and exits 0. Its process holds
// a few kilobytes, where the agent's own binary as `shoal pause` held about
// 7 MB of memory per pod and spent 15-30 ms in its packages' initialisation
// before pausing. The machine code is the assembly in
// testdata/tinypause/pause_<arch>.S (TestTinyPauseIsItsSource assembles it
// and compares).
var tinyPauseCode = map[string]machineCode{
	"amd64": {elf.EM_X86_64, []byte{
		0xb8, 0x0d, 0x00, 0x00, 0x00, // mov $13, %eax (rt_sigaction)
		0xbf, 0x11, 0x00, 0x00, 0x00, // mov $17, %edi (SIGCHLD)
		0x48, 0x8d, 0x35, 0x4f, 0x00, 0x00, 0x00, // lea ignore(%rip), %rsi
		0x31, 0xd2, // xor %edx, %edx
		0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov $8, %r10d
		0x0f, 0x05, // syscall
		0xb8, 0x0e, 0x00, 0x00, 0x00, // mov $14, %eax (rt_sigprocmask)
		0x31, 0xff, // xor %edi, %edi (SIG_BLOCK)
		0x48, 0x8d, 0x35, 0x57, 0x00, 0x00, 0x00, // lea stop(%rip), %rsi
		0x31, 0xd2, // xor %edx, %edx
		0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov $8, %r10d
		0x0f, 0x05, // syscall
		0xb8, 0x80, 0x00, 0x00, 0x00, // wait: mov $128, %eax (rt_sigtimedwait)
		0x48, 0x8d, 0x3d, 0x41, 0x00, 0x00, 0x00, // lea stop(%rip), %rdi
		0x31, 0xf6, // xor %esi, %esi
		0x31, 0xd2, // xor %edx, %edx
		0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // mov $8, %r10d
		0x0f, 0x05, // syscall
		0x48, 0x85, 0xc0, // test %rax, %rax
		0x78, 0xe3, // js wait
		0xb8, 0xe7, 0x00, 0x00, 0x00, // mov $231, %eax (exit_group)
		0x31, 0xff, // xor %edi, %edi
		0x0f, 0x05, // syscall
		0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00, // nop (alignment)
		// ignore: struct sigaction {SIG_IGN, flags 0, restorer 0, mask 0}
		0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		// stop: the sigset {SIGINT, SIGTERM}
		0x02, 0x40, 0, 0, 0, 0, 0, 0,
	}},
	"arm64": {elf.EM_AARCH64, []byte{
		0x20, 0x02, 0x80, 0xd2, // mov x0, #17 (SIGCHLD)
		0xa1, 0x02, 0x00, 0x10, // adr x1, ignore
		0x02, 0x00, 0x80, 0xd2, // mov x2, #0
		0x03, 0x01, 0x80, 0xd2, // mov x3, #8
		0xc8, 0x10, 0x80, 0xd2, // mov x8, #134 (rt_sigaction)
		0x01, 0x00, 0x00, 0xd4, // svc #0
		0x00, 0x00, 0x80, 0xd2, // mov x0, #0 (SIG_BLOCK)
		0xe1, 0x02, 0x00, 0x10, // adr x1, stop
		0x02, 0x00, 0x80, 0xd2, // mov x2, #0
		0x03, 0x01, 0x80, 0xd2, // mov x3, #8
		0xe8, 0x10, 0x80, 0xd2, // mov x8, #135 (rt_sigprocmask)
		0x01, 0x00, 0x00, 0xd4, // svc #0
		0x40, 0x02, 0x00, 0x10, // wait: adr x0, stop
		0x01, 0x00, 0x80, 0xd2, // mov x1, #0
		0x02, 0x00, 0x80, 0xd2, // mov x2, #0
		0x03, 0x01, 0x80, 0xd2, // mov x3, #8
		0x28, 0x11, 0x80, 0xd2, // mov x8, #137 (rt_sigtimedwait)
		0x01, 0x00, 0x00, 0xd4, // svc #0
		0x40, 0xff, 0xff, 0xb7, // tbnz x0, #63, wait
		0x00, 0x00, 0x80, 0xd2, // mov x0, #0
		0xc8, 0x0b, 0x80, 0xd2, // mov x8, #94 (exit_group)
		0x01, 0x00, 0x00, 0xd4, // svc #0
		// ignore: struct sigaction {SIG_IGN, flags 0, restorer 0, mask 0}
		0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		// stop: the sigset {SIGINT, SIGTERM}
		0x02, 0x40, 0, 0, 0, 0, 0, 0,
	}},
}

// machineCode is a small program's code for one architecture.
type machineCode struct {
	machine elf.Machine
	code    []byte
}

// tinyPauseBase is where the program is loaded; any page-aligned address
// above the kernel's mmap_min_addr does.
const tinyPauseBase = 0x400000

// TinyPause returns the tiny pause as a complete static ELF executable for
// goarch, or false where there is none (the sandbox then runs the agent's
// binary as `shoal pause`).
func TinyPause(goarch string) ([]byte, bool) {
	prog, ok := tinyPauseCode[goarch]
	if !ok {
		return nil, false
	}
	return staticELF(prog.machine, prog.code), true
}

// staticELF wraps machine code into a static executable: one ELF header,
// one loadable segment mapping the whole file read and execute, then the
// code, which addresses its constants relative to itself (both header
// sizes keep it 8-byte aligned).
func staticELF(machine elf.Machine, code []byte) []byte {
	const ehsize, phsize = 64, 56
	size := uint64(ehsize + phsize + len(code))
	header := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     tinyPauseBase + ehsize + phsize,
		Phoff:     ehsize,
		Ehsize:    ehsize,
		Phentsize: phsize,
		Phnum:     1,
	}
	copy(header.Ident[:], elf.ELFMAG)
	header.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	header.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	header.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	header.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	segment := elf.Prog64{
		Type:   uint32(elf.PT_LOAD),
		Flags:  uint32(elf.PF_R | elf.PF_X),
		Vaddr:  tinyPauseBase,
		Paddr:  tinyPauseBase,
		Filesz: size,
		Memsz:  size,
		Align:  0x1000,
	}
	var b bytes.Buffer
	// Writes to a bytes.Buffer do not fail.
	_ = binary.Write(&b, binary.LittleEndian, header)
	_ = binary.Write(&b, binary.LittleEndian, segment)
	b.Write(code)
	return b.Bytes()
}
