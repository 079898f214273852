# SPDX-License-Identifier: GPL-2.0-or-later
#
# counter.s -- a 512-byte boot sector for the multi-node tier's TCG test guest.
#
# The BIOS loads it at 0:7c00 and jumps to it. It prints one line per ~4 BIOS ticks (~0.22 s)
# to the first serial port (COM1, 0x3f8):   C=0000002A\n   (the counter, hex, 8 digits)
# and increments the counter, forever. The counter lives in guest memory, so a live migration
# that really moved the guest's state shows the same sequence continuing on the destination.
# Between lines the CPU halts (hlt until the BIOS timer interrupt), so TCG costs almost nothing.
#
# Build (guest/build.sh does this): as --32 counter.s -o counter.o &&
#   ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary counter.o -o counter.bin
#
# Assembled with --defsym DISKIO=1 (build.sh OUT.img SIZE io) it also does disk I/O at every
# tick, after the line: the counter is written to the boot disk's second sector and read back
# through the BIOS (int 13h, CHS 0/0/2; an IDE disk under SeaBIOS). A guest whose disk starts
# failing then stops in that request (QEMU's rerror/werror policy "stop" pauses it, reason
# ioerror) and, once resumed, QEMU retries it and the counter goes on from where it stopped.

	.code16
	.text
	.globl _start
_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %ss
	movw	$0x7c00, %sp
	ljmp	$0, $start2		# cs:ip = 0:7cxx whatever the BIOS used
start2:
.ifdef DISKIO
	movw	%ax, %es
	movb	%dl, drive		# the BIOS boots us with our drive's number in %dl
.endif
	sti
next:
	movb	$'C', %al
	call	putc
	movb	$'=', %al
	call	putc
	movl	count, %ebx
	movw	$8, %cx
hex:
	roll	$4, %ebx		# most significant nibble first
	movb	%bl, %al
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	1f
	addb	$7, %al			# 'A'..'F'
1:	call	putc
	loop	hex
	movb	$'\n', %al
	call	putc
	incl	count
.ifdef DISKIO
	call	diskio
.endif
	movw	0x46c, %si		# BIOS tick counter (0040:006c), 18.2 Hz
2:	hlt
	movw	0x46c, %ax
	subw	%si, %ax
	cmpw	$4, %ax
	jb	2b
	jmp	next

putc:					# %al: the character; clobbers %dx
	pushw	%ax
	movw	$0x3fd, %dx		# line status register
3:	inb	%dx, %al
	testb	$0x20, %al		# transmit holding register empty
	jz	3b
	popw	%ax
	movw	$0x3f8, %dx
	outb	%al, %dx
	ret

.ifdef DISKIO
diskio:					# the counter to sector 2 of our drive, then read back
	pushal
	movl	count, %eax
	movl	%eax, 0x7e00		# the 512-byte buffer right after this sector
	movw	$0x7e00, %bx		# %es:%bx
	movw	$0x0301, %ax		# AH 03: write, AL: 1 sector
	movw	$0x0002, %cx		# cylinder 0, sector 2
	movb	$0, %dh			# head 0
	movb	drive, %dl
	int	$0x13
	movw	$0x0201, %ax		# AH 02: read it back
	movw	$0x0002, %cx
	movb	$0, %dh
	movb	drive, %dl
	int	$0x13
	popal
	ret
drive:	.byte	0x80
.endif

count:	.long	0

	.org	510
	.word	0xaa55
