# SPDX-License-Identifier: GPL-2.0-or-later
#
# qga.s -- a minimal qemu-guest-agent for the multi-node tier's tiny TCG guests (issue 10's
# VM-consistent snapshots): an x86 real-mode program with its own virtio-serial driver, so that
# libvirt's real agent path runs -- libvirt connects to a guest agent only once the GUEST has
# opened its org.qemu.guest_agent.0 port (QEMU's VSERPORT_CHANGE), which no host-side stand-in
# can fake. Nothing else runs in the guest.
#
# What it does:
#   - the boot sector loads the rest (24 sectors) through the BIOS and jumps to it;
#   - finds the virtio console (PCI 1af4:1003, legacy I/O BAR), negotiates MULTIPORT, sets up
#     the control queues and port 1's queues (the channel must be at virtio-serial port 1), says
#     DEVICE_READY, answers PORT_ADD with PORT_READY and opens the port (PORT_OPEN 1) once QEMU
#     names it;
#   - answers, line by line, the QGA JSON commands libvirt sends: guest-sync,
#     guest-sync-delimited (0xFF first), guest-ping, guest-fsfreeze-freeze (and -freeze-list),
#     guest-fsfreeze-thaw, guest-fsfreeze-status; anything else gets a CommandNotFound error;
#   - is switched by the test through COM2 (a unix socket on the host: one byte each):
#       a  answer (the default)
#       h  hang: a freeze is done (the guest counts as frozen) but never answered; the rest is
#          answered -- a thaw thaws
#       s  silent: nothing is answered (a command is logged and dropped)
#       c  close the port (PORT_OPEN 0): libvirt sees the agent disconnect
#       o  open the port again, and answer
#   - logs every command and mode change on COM1, one line each, "QGA ...": the responder's
#     log (the domain's serial file), e.g. "QGA freeze n=1", "QGA thaw n=1", "QGA mode h".
#
# Sleeps in hlt between events: the virtio device's interrupt (its receive queues) wakes it at
# once, so a command is answered as soon as QEMU hands it over, as qemu-ga would; COM2 (and the
# queues, should no IRQ be routed) is looked at once per BIOS timer tick (~55 ms). Memory (segment 0): vrings at 0x1000 (control in), 0x3000 (control
# out), 0x5000 (port 1 in), 0xa000 (port 1 out), buffers at 0xc000-0xcfff, the program at 0x7c00.
# Build: guest/build.sh OUT.img SIZE qga.

	.code16
	.text
	.globl _start

	.set NSECT, 24			# sectors loaded after the boot sector (one track)
	.set COM1, 0x3f8
	.set COM2, 0x2f8
	# legacy virtio PCI registers (offsets in the I/O BAR)
	.set VIO_HOST_FEAT, 0x00
	.set VIO_GUEST_FEAT, 0x04
	.set VIO_QPFN, 0x08
	.set VIO_QNUM, 0x0c
	.set VIO_QSEL, 0x0e
	.set VIO_QNOTIFY, 0x10
	.set VIO_STATUS, 0x12
	.set VIO_ISR, 0x13
	# virtio console control events
	.set EV_DEVICE_READY, 0
	.set EV_PORT_ADD, 1
	.set EV_PORT_READY, 3
	.set EV_PORT_OPEN, 6
	.set EV_PORT_NAME, 7
	# buffers
	.set CTRLRX, 0xc000		# 8 x 64
	.set CTRLTX, 0xc200		# 8
	.set PORTRX, 0xc400		# 4 x 256
	.set LINE, 0xc800		# 1024
	.set TXBUF, 0xcc00		# 1024
	.set LINEMAX, 1000

_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	ljmp	$0, $boot2
boot2:
	sti
	movb	%dl, drive
	movw	$0x7e00, %bx		# es:bx: right after the boot sector
	movb	$2, %ah			# read sectors
	movb	$NSECT, %al
	movw	$0x0002, %cx		# cylinder 0, sector 2
	xorb	%dh, %dh		# head 0
	int	$0x13
	jc	1f
	jmp	main
1:	movw	$msg_loadfail, %si
	call	log
2:	hlt
	jmp	2b

# ---- COM1 log ------------------------------------------------------------------------------------

putc:					# %al
	pushw	%dx
	pushw	%ax
	movw	$COM1+5, %dx
3:	inb	%dx, %al
	testb	$0x20, %al
	jz	3b
	popw	%ax
	movw	$COM1, %dx
	outb	%al, %dx
	popw	%dx
	ret

puts:					# %si: NUL-terminated
	pushw	%ax
	pushw	%si
4:	lodsb
	testb	%al, %al
	jz	5f
	call	putc
	jmp	4b
5:	popw	%si
	popw	%ax
	ret

log:					# "QGA " + %si + newline
	pushw	%si
	movw	$msg_qga, %si
	call	puts
	popw	%si
	call	puts
	pushw	%ax
	movb	$'\n', %al
	call	putc
	popw	%ax
	ret

msg_qga:	.asciz "QGA "
msg_loadfail:	.asciz "cannot load the program"
drive:		.byte 0x80

	.org 510
	.word 0xaa55

# ---- sector 2 on -------------------------------------------------------------------------------

main:
	cld
	movw	$msg_start, %si
	call	log
	# the vrings and buffers start zeroed
	movw	$0x1000, %di
	movw	$0x6000, %cx
	xorb	%al, %al
	rep stosb
	movw	$0xa000, %di
	movw	$0x3000, %cx
	rep stosb
	call	pci_find
	jc	nodev
	call	vio_init
	jc	nodev
	movw	$msg_ready, %si
	call	log
	call	irq_setup
loop:
	call	poll_ctrl
	call	poll_rx
	call	poll_com2
	cli				# nothing may land between the last look and hlt:
	movw	$2, %si
	call	q_pending
	jnz	62f
	movw	$4, %si
	call	q_pending
	jnz	62f
	sti				# sti's shadow: an interrupt taken now wakes the hlt
	hlt
	jmp	loop
62:	sti
	jmp	loop
nodev:
	movw	$msg_nodev, %si
	call	log
6:	hlt
	jmp	6b

# ---- PCI: the virtio console (1af4:1003) on bus 0 --------------------------------------------------

pci_read:				# %eax: config address -> %eax: the dword
	movw	$0xcf8, %dx
	outl	%eax, %dx
	movw	$0xcfc, %dx
	inl	%dx, %eax
	ret

pci_find:				# -> iobase, CF when absent
	xorl	%ebx, %ebx		# device number << 11
7:	movl	%ebx, %eax
	orl	$0x80000000, %eax
	call	pci_read
	cmpl	$0x10031af4, %eax
	je	8f
	addl	$0x800, %ebx
	cmpl	$0x10000, %ebx		# 32 devices
	jb	7b
	stc
	ret
8:	movl	%ebx, %eax
	orl	$0x80000010, %eax	# BAR0
	call	pci_read
	andw	$0xfffc, %ax
	movw	%ax, iobase
	movl	%ebx, %eax
	orl	$0x8000003c, %eax	# interrupt line (the BIOS routed INTA# to an ISA IRQ)
	call	pci_read
	movb	%al, irq
	movl	%ebx, %eax
	orl	$0x80000004, %eax	# command: I/O space + bus master (virtio DMA)
	movl	%eax, %ecx
	call	pci_read
	orl	$0x5, %eax
	xchgl	%eax, %ecx
	movw	$0xcf8, %dx
	outl	%eax, %dx
	movl	%ecx, %eax
	movw	$0xcfc, %dx
	outl	%eax, %dx
	clc
	ret

# ---- virtio (legacy) ---------------------------------------------------------------------------

vio_port:				# %dx: register offset -> %dx: port
	addw	iobase, %dx
	ret

vio_init:
	movw	$VIO_STATUS, %dx
	call	vio_port
	xorb	%al, %al
	outb	%al, %dx		# reset
	movb	$1, %al
	outb	%al, %dx		# ACKNOWLEDGE
	movb	$3, %al
	outb	%al, %dx		# + DRIVER
	movw	$VIO_HOST_FEAT, %dx
	call	vio_port
	inl	%dx, %eax
	andl	$2, %eax		# MULTIPORT, nothing else
	jz	9f
	movw	$VIO_GUEST_FEAT, %dx
	call	vio_port
	outl	%eax, %dx
	movw	$2, %si
10:	call	q_setup
	jc	9f
	incw	%si
	cmpw	$6, %si
	jb	10b
	movw	$VIO_STATUS, %dx
	call	vio_port
	movb	$7, %al			# + DRIVER_OK
	outb	%al, %dx
	# buffers for the device's control messages (8 x 64) and for port 1's data (4 x 256)
	movw	$2, %si
	xorw	%ax, %ax
	movw	$CTRLRX, %di
	movw	$64, %cx
11:	movw	$2, %bx			# VRING_DESC_F_WRITE
	call	desc_set
	call	q_add
	addw	$64, %di
	incw	%ax
	cmpw	$8, %ax
	jb	11b
	call	q_notify
	movw	$4, %si
	xorw	%ax, %ax
	movw	$PORTRX, %di
	movw	$256, %cx
12:	movw	$2, %bx
	call	desc_set
	call	q_add
	addw	$256, %di
	incw	%ax
	cmpw	$4, %ax
	jb	12b
	call	q_notify
	xorl	%eax, %eax		# DEVICE_READY 1: the device announces its ports
	movw	$EV_DEVICE_READY, %bx
	movw	$1, %cx
	call	send_ctrl
	clc
	ret
9:	stc
	ret

# ---- the device's interrupt: wakes the main loop's hlt ------------------------------------------
# INTx of a legacy virtio device is level-triggered: reading the ISR register lowers it, then the
# PIC(s) get their EOI. Without a usable line (none routed) the loop still polls once per tick.

irq_setup:
	movb	irq, %cl
	cmpb	$15, %cl
	ja	65f
	movzbw	%cl, %bx		# the vector: IRQ 0-7 -> 8-15, 8-15 -> 0x70-0x77
	addw	$8, %bx
	cmpb	$8, %cl
	jb	63f
	addw	$0x70-16, %bx
63:	shlw	$2, %bx
	cli
	movw	$vio_isr, (%bx)
	movw	$0, 2(%bx)
	movb	$1, %ah
	cmpb	$8, %cl
	jb	64f
	subb	$8, %cl
	shlb	%cl, %ah
	notb	%ah
	inb	$0xa1, %al		# unmask it on the slave PIC
	andb	%ah, %al
	outb	%al, $0xa1
	movb	$0xfb, %ah		# and the cascade (IRQ 2) on the master
	xorb	%cl, %cl
	jmp	641f
64:	shlb	%cl, %ah
	notb	%ah
641:	inb	$0x21, %al
	andb	%ah, %al
	outb	%al, $0x21
	sti
	movw	$msg_irq, %si
	call	puts_qga
	movzbw	irq, %ax
	jmp	log_dec_nl
65:	movw	$msg_noirq, %si
	jmp	log

vio_isr:
	pushw	%ax
	pushw	%dx
	pushw	%ds
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$VIO_ISR, %dx
	addw	iobase, %dx
	inb	%dx, %al		# read = acknowledged, the line goes down
	movb	$0x20, %al		# EOI
	cmpb	$8, irq
	jb	66f
	outb	%al, $0xa0
66:	outb	%al, $0x20
	popw	%ds
	popw	%dx
	popw	%ax
	iret

# %si: queue. Reads its size, places its ring at qbase[si], tells the device (PFN).
q_setup:
	movw	%si, %ax
	movw	$VIO_QSEL, %dx
	call	vio_port
	outw	%ax, %dx
	movw	$VIO_QNUM, %dx
	call	vio_port
	inw	%dx, %ax
	testw	%ax, %ax
	jz	13f
	cmpw	$256, %ax		# 8 KiB per ring here
	ja	13f
	movw	%si, %bx
	shlw	$1, %bx
	movw	%ax, qsize(%bx)
	movw	$18, %cx		# used ring at align4096(16 N + 6 + 2 N)
	mulw	%cx
	addw	$6+4095, %ax
	andw	$0xf000, %ax
	movw	%ax, qused(%bx)
	movw	qsize(%bx), %ax		# avail.flags: the receive queues (even) interrupt, the
	shlw	$4, %ax			# transmit ones (odd: q_wait spins on them) do not
	addw	qbase(%bx), %ax
	movw	%ax, %di
	movw	%si, %ax
	andw	$1, %ax			# VRING_AVAIL_F_NO_INTERRUPT
	movw	%ax, (%di)
	movzwl	qbase(%bx), %eax
	shrl	$12, %eax
	movw	$VIO_QPFN, %dx
	call	vio_port
	outl	%eax, %dx
	clc
	ret
13:	stc
	ret

# %si: queue, %ax: descriptor, %di: buffer, %cx: length, %bx: flags. Keeps every register.
desc_set:
	pushw	%bx
	pushw	%di
	pushw	%bx
	movw	%si, %bx
	shlw	$1, %bx
	movw	qbase(%bx), %bx
	pushw	%ax
	shlw	$4, %ax
	addw	%ax, %bx
	popw	%ax
	movw	%di, (%bx)		# addr (64 bits)
	movw	$0, 2(%bx)
	movl	$0, 4(%bx)
	movw	%cx, 8(%bx)		# len (32 bits)
	movw	$0, 10(%bx)
	popw	%di			# flags
	movw	%di, 12(%bx)
	movw	$0, 14(%bx)		# next
	popw	%di
	popw	%bx
	ret

# %si: queue, %ax: descriptor: offered to the device (avail ring). Keeps every register.
q_add:
	pushw	%ax
	pushw	%bx
	pushw	%cx
	pushw	%dx
	pushw	%di
	movw	%ax, %cx
	movw	%si, %bx
	shlw	$1, %bx
	movw	qsize(%bx), %ax
	shlw	$4, %ax
	addw	qbase(%bx), %ax
	movw	%ax, %di		# the avail ring
	movw	qavail(%bx), %ax
	xorw	%dx, %dx
	divw	qsize(%bx)		# %dx = idx % N
	shlw	$1, %dx
	addw	%di, %dx
	pushw	%bx
	movw	%dx, %bx
	movw	%cx, 4(%bx)
	popw	%bx
	incw	qavail(%bx)
	movw	qavail(%bx), %ax
	movw	%ax, 2(%di)		# avail.idx
	popw	%di
	popw	%dx
	popw	%cx
	popw	%bx
	popw	%ax
	ret

q_notify:				# %si: queue
	pushw	%ax
	pushw	%dx
	movw	%si, %ax
	movw	$VIO_QNOTIFY, %dx
	call	vio_port
	outw	%ax, %dx
	popw	%dx
	popw	%ax
	ret

# %si: queue -> ZF clear when the device has used a buffer we have not looked at
q_pending:
	pushw	%ax
	pushw	%bx
	pushw	%di
	movw	%si, %bx
	shlw	$1, %bx
	movw	qbase(%bx), %di
	addw	qused(%bx), %di
	movw	2(%di), %ax		# used.idx
	cmpw	qlast(%bx), %ax
	popw	%di
	popw	%bx
	popw	%ax
	ret

# %si: queue -> %ax: the used descriptor, %cx: the length the device wrote
q_pop:
	pushw	%bx
	pushw	%dx
	pushw	%di
	movw	%si, %bx
	shlw	$1, %bx
	movw	qbase(%bx), %di
	addw	qused(%bx), %di
	movw	qlast(%bx), %ax
	xorw	%dx, %dx
	divw	qsize(%bx)
	shlw	$3, %dx
	addw	%dx, %di
	incw	qlast(%bx)
	movw	4(%di), %ax		# id
	movw	8(%di), %cx		# len
	popw	%di
	popw	%dx
	popw	%bx
	ret

# %si: queue: waits (bounded) until the device has used what was just offered
q_wait:
	pushw	%cx
	movw	$0xffff, %cx
14:	call	q_pending
	jnz	15f
	loop	14b
	pushw	%si
	movw	$msg_stuck, %si
	call	log
	popw	%si
	popw	%cx
	ret
15:	pushw	%ax
	call	q_pop
	popw	%ax
	popw	%cx
	ret

# A control message to the device: %eax port id, %bx event, %cx value.
send_ctrl:
	pushw	%si
	pushw	%di
	movl	%eax, CTRLTX
	movw	%bx, CTRLTX+4
	movw	%cx, CTRLTX+6
	movw	$3, %si
	xorw	%ax, %ax
	movw	$CTRLTX, %di
	movw	$8, %cx
	xorw	%bx, %bx
	call	desc_set
	call	q_add
	call	q_notify
	call	q_wait
	popw	%di
	popw	%si
	ret

# ---- the device's control messages -------------------------------------------------------------

poll_ctrl:
	movw	$2, %si
16:	call	q_pending
	jz	19f
	call	q_pop			# %ax: descriptor = buffer index
	pushw	%ax
	movw	%ax, %di
	shlw	$6, %di
	addw	$CTRLRX, %di
	movl	(%di), %eax		# port id
	movw	4(%di), %dx		# event
	cmpl	$1, %eax		# only port 1 is ours
	jne	18f
	cmpw	$EV_PORT_ADD, %dx
	jne	17f
	movw	$EV_PORT_READY, %bx
	movw	$1, %cx
	call	send_ctrl
	jmp	18f
17:	cmpw	$EV_PORT_NAME, %dx
	jne	18f
	movb	$1, named
	cmpb	$'c', mode
	je	18f
	call	port_open
18:	popw	%ax			# the buffer goes back to the device
	movw	$2, %si
	call	q_add
	call	q_notify
	jmp	16b
19:	ret

port_open:
	movl	$1, %eax
	movw	$EV_PORT_OPEN, %bx
	movw	$1, %cx
	call	send_ctrl
	movw	$msg_open, %si
	jmp	log

port_close:
	movl	$1, %eax
	movw	$EV_PORT_OPEN, %bx
	xorw	%cx, %cx
	call	send_ctrl
	movw	$msg_closed, %si
	jmp	log

# ---- COM2: the test's switch -------------------------------------------------------------------

poll_com2:
	movw	$COM2+5, %dx
	inb	%dx, %al
	testb	$1, %al
	jz	22f
	movw	$COM2, %dx
	inb	%dx, %al
	cmpb	$'a', %al
	je	20f
	cmpb	$'h', %al
	je	20f
	cmpb	$'s', %al
	je	20f
	cmpb	$'c', %al
	je	21f
	cmpb	$'o', %al
	jne	poll_com2
	movb	$'a', mode
	movb	$'o', msg_mode+5
	movw	$msg_mode, %si
	call	log
	cmpb	$0, named
	je	poll_com2
	call	port_open
	jmp	poll_com2
20:	movb	%al, mode
	movb	%al, msg_mode+5
	movw	$msg_mode, %si
	call	log
	jmp	poll_com2
21:	movb	%al, mode
	movb	%al, msg_mode+5
	movw	$msg_mode, %si
	call	log
	call	port_close
	jmp	poll_com2
22:	ret

# ---- port 1: the agent protocol ----------------------------------------------------------------

poll_rx:
	movw	$4, %si
23:	call	q_pending
	jz	27f
	call	q_pop			# %ax descriptor, %cx length
	pushw	%ax
	movw	%ax, %di
	shlw	$8, %di
	addw	$PORTRX, %di
	jcxz	26f
24:	movb	(%di), %al
	incw	%di
	cmpb	$'\n', %al
	jne	25f
	pushw	%cx
	pushw	%di
	call	command
	popw	%di
	popw	%cx
	movw	$0, linelen
	loop	24b
	jmp	26f
25:	movw	linelen, %bx
	cmpw	$LINEMAX, %bx
	jae	251f
	movb	%al, LINE(%bx)
	incw	linelen
251:	loop	24b
26:	popw	%ax
	movw	$4, %si
	call	q_add
	call	q_notify
	jmp	23b
27:	ret

# %si: NUL-terminated needle -> CF clear when LINE[0..linelen) holds it, %di just after it
find:
	pushw	%ax
	pushw	%bx
	pushw	%cx
	pushw	%dx
	movw	$LINE, %bx
	movw	linelen, %dx
	addw	$LINE, %dx		# end
28:	movw	%bx, %di
	pushw	%si
29:	movb	(%si), %al
	testb	%al, %al
	jz	31f			# whole needle matched
	cmpw	%dx, %di
	jae	30f
	cmpb	(%di), %al
	jne	30f
	incw	%si
	incw	%di
	jmp	29b
30:	popw	%si
	incw	%bx
	cmpw	%dx, %bx
	jb	28b
	stc
	jmp	32f
31:	popw	%si
	clc
32:	popw	%dx
	popw	%cx
	popw	%bx
	popw	%ax
	ret

tx_reset:
	movw	$0, txlen
	ret

tx_byte:				# %al
	pushw	%bx
	movw	txlen, %bx
	cmpw	$1000, %bx
	jae	33f
	movb	%al, TXBUF(%bx)
	incw	txlen
33:	popw	%bx
	ret

tx_str:					# %si
	pushw	%ax
	pushw	%si
34:	lodsb
	testb	%al, %al
	jz	35f
	call	tx_byte
	jmp	34b
35:	popw	%si
	popw	%ax
	ret

tx_dec:					# %ax: unsigned, in decimal
	pushw	%ax
	pushw	%bx
	pushw	%cx
	pushw	%dx
	movw	$10, %bx
	xorw	%cx, %cx
36:	xorw	%dx, %dx
	divw	%bx
	pushw	%dx
	incw	%cx
	testw	%ax, %ax
	jnz	36b
37:	popw	%ax
	addb	$'0', %al
	call	tx_byte
	loop	37b
	popw	%dx
	popw	%cx
	popw	%bx
	popw	%ax
	ret

tx_send:				# TXBUF[0..txlen) to the host
	pushw	%si
	movw	$5, %si
	xorw	%ax, %ax
	movw	$TXBUF, %di
	movw	txlen, %cx
	xorw	%bx, %bx
	call	desc_set
	call	q_add
	call	q_notify
	call	q_wait
	popw	%si
	ret

# {"return": <the id's digits>}: the argument "id" of the line, copied as it is
tx_return_id:
	movw	$js_return, %si
	call	tx_str
	movw	$js_id, %si
	call	find
	jc	40f
38:	cmpw	$LINE+LINEMAX, %di	# to the first digit
	jae	40f
	movb	(%di), %al
	cmpb	$'0', %al
	jb	39f
	cmpb	$'9', %al
	jbe	41f
39:	incw	%di
	jmp	38b
41:	movb	(%di), %al
	cmpb	$'0', %al
	jb	42f
	cmpb	$'9', %al
	ja	42f
	call	tx_byte
	incw	%di
	jmp	41b
40:	movb	$'0', %al
	call	tx_byte
42:	movw	$js_end, %si
	jmp	tx_str

# One line from the host: one command.
command:
	cmpw	$0, linelen
	je	59f
	call	tx_reset
	cmpb	$'s', mode
	jne	50f
	movw	$msg_silent, %si
	jmp	log
50:	movw	$cmd_sync_delim, %si
	call	find
	jc	51f
	movb	$0xff, %al		# the delimiter first
	call	tx_byte
	call	tx_return_id
	movw	$msg_sync, %si
	jmp	58f
51:	movw	$cmd_sync, %si
	call	find
	jc	52f
	call	tx_return_id
	movw	$msg_sync, %si
	jmp	58f
52:	movw	$cmd_ping, %si
	call	find
	jc	53f
	movw	$js_empty, %si
	call	tx_str
	movw	$msg_ping, %si
	jmp	58f
53:	movw	$cmd_freeze, %si
	call	find
	jc	55f
	cmpb	$0, frozen
	je	54f
	movw	$js_frozen_err, %si
	call	tx_str
	movw	$msg_refused, %si
	jmp	58f
54:	movb	$1, frozen
	incw	nfreeze
	movw	$msg_freeze, %si
	call	log_n
	cmpb	$'h', mode
	je	59f			# hang: frozen, never answered
	movw	$js_return, %si
	call	tx_str
	movw	$1, %ax
	call	tx_dec
	movw	$js_end, %si
	call	tx_str
	jmp	tx_send
55:	movw	$cmd_thaw, %si
	call	find
	jc	56f
	movw	$js_return, %si
	call	tx_str
	movzbw	frozen, %ax
	call	tx_dec
	movw	$js_end, %si
	call	tx_str
	movb	$0, frozen
	movw	$msg_thaw, %si
	call	puts_qga
	call	log_dec_nl
	jmp	tx_send
56:	movw	$cmd_status, %si
	call	find
	jc	57f
	movw	$js_thawed, %si
	cmpb	$0, frozen
	je	561f
	movw	$js_frozen, %si
561:	call	tx_str
	movw	$msg_status, %si
	jmp	58f
57:	movw	$js_notfound, %si
	call	tx_str
	movw	$msg_unknown, %si
58:	call	log
	jmp	tx_send
59:	ret

puts_qga:				# "QGA " + %si, no newline
	pushw	%si
	movw	$msg_qga, %si
	call	puts
	popw	%si
	jmp	puts

log_n:					# "QGA " + %si + nfreeze + newline
	call	puts_qga
	movw	nfreeze, %ax
	jmp	log_dec_nl

log_dec_nl:				# %ax in decimal + newline on COM1
	pushw	%bx
	pushw	%cx
	pushw	%dx
	movw	$10, %bx
	xorw	%cx, %cx
60:	xorw	%dx, %dx
	divw	%bx
	pushw	%dx
	incw	%cx
	testw	%ax, %ax
	jnz	60b
61:	popw	%ax
	addb	$'0', %al
	call	putc
	loop	61b
	movb	$'\n', %al
	call	putc
	popw	%dx
	popw	%cx
	popw	%bx
	ret

# ---- data --------------------------------------------------------------------------------------

	.align 2
iobase:		.word 0
qbase:		.word 0, 0, 0x1000, 0x3000, 0x5000, 0xa000
qsize:		.word 0, 0, 0, 0, 0, 0
qused:		.word 0, 0, 0, 0, 0, 0
qavail:		.word 0, 0, 0, 0, 0, 0
qlast:		.word 0, 0, 0, 0, 0, 0
linelen:	.word 0
txlen:		.word 0
nfreeze:	.word 0
irq:		.byte 0xff
mode:		.byte 'a'
frozen:		.byte 0
named:		.byte 0

msg_start:	.asciz "start"
msg_ready:	.asciz "ready"
msg_irq:	.asciz "irq "
msg_noirq:	.asciz "no irq: polling once per tick"
msg_nodev:	.asciz "no virtio console (1af4:1003 with MULTIPORT)"
msg_stuck:	.asciz "the device did not take a buffer"
msg_open:	.asciz "port open"
msg_closed:	.asciz "port closed"
msg_mode:	.asciz "mode ?"
msg_silent:	.asciz "silent: a command dropped"
msg_sync:	.asciz "sync"
msg_ping:	.asciz "ping"
msg_freeze:	.asciz "freeze n="
msg_refused:	.asciz "freeze refused: frozen already"
msg_thaw:	.asciz "thaw n="
msg_status:	.asciz "status"
msg_unknown:	.asciz "unknown command"

cmd_sync_delim:	.asciz "\"guest-sync-delimited\""
cmd_sync:	.asciz "\"guest-sync\""
cmd_ping:	.asciz "\"guest-ping\""
cmd_freeze:	.asciz "\"guest-fsfreeze-freeze"
cmd_thaw:	.asciz "\"guest-fsfreeze-thaw\""
cmd_status:	.asciz "\"guest-fsfreeze-status\""
js_id:		.asciz "\"id\""
js_return:	.asciz "{\"return\": "
js_end:		.asciz "}\n"
js_empty:	.asciz "{\"return\": {}}\n"
js_frozen:	.asciz "{\"return\": \"frozen\"}\n"
js_thawed:	.asciz "{\"return\": \"thawed\"}\n"
js_frozen_err:	.asciz "{\"error\": {\"class\": \"GenericError\", \"desc\": \"the file systems are frozen already\"}}\n"
js_notfound:	.asciz "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"not in the kvmcd test agent\"}}\n"
