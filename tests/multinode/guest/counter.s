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

count:	.long	0

	.org	510
	.word	0xaa55
