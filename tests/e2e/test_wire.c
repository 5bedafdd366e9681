/*
 * test_wire.c -- end-to-end: the real rasd on a private socket and state
 * directory, driven over its real protocol. Covers bad input (garbage,
 * oversized, empty and truncated frames, wrong version, bad HEST, unknown
 * VMs, a VMM acting for another VM) and the forward/decision path.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cper.h"
#include "ras.h"
#include "wire.h"

#define HEST_SEA_GPIO "tests/data/qemu-virt-10.2-sea-gpio.hest"
#define RAM_SIZE (64u << 20)

static struct wire_rasd rasd;
static uint8_t *ram;

static void
setup(void)
{
	cr_assert_eq(wire_start(&rasd, NULL), 0, "rasd did not start");
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(ram, MAP_FAILED);
}

static void
teardown(void)
{
	munmap(ram, RAM_SIZE);
	cr_assert_eq(wire_stop(&rasd), 0, "rasd did not shut down cleanly");
}

TestSuite(wire, .init = setup, .fini = teardown, .timeout = 60);

/* Ask for the VM list; returns the number of VMs or -1. */
static int
list_vms(int fd)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__ListVms lv = RAS__LIST_VMS__INIT;
	Ras__Response *resp;
	int n;

	req.body_case = RAS__REQUEST__BODY_LIST_VMS;
	req.list_vms = &lv;
	if ((resp = wire_call(fd, &req)) == NULL)
		return -1;
	n = resp->body_case == RAS__RESPONSE__BODY_VM_LIST ?
	    (int)resp->vm_list->n_vms : -1;
	ras__response__free_unpacked(resp, NULL);
	return n;
}

/* Register this process as VM name/uuid with the QEMU SEA+GPIO HEST. */
static Ras__Response *
do_register(int fd, uint8_t uuid[16], const char *name, const uint8_t *hest,
    size_t hest_len)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__Register reg;
	Ras__Slot slot, *slotv[1];

	wire_register_init(&reg, &slot, slotv, uuid, name, hest, hest_len,
	    (uint64_t)(uintptr_t)ram, RAM_SIZE);
	req.body_case = RAS__REQUEST__BODY_REGISTER;
	req.register_ = &reg;
	return wire_call(fd, &req);
}

static Ras__Response *
do_forward(int fd, const uint8_t uuid[16], int kind, uint64_t hva,
    unsigned int lsb)
{
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__Forward fw = RAS__FORWARD__INIT;

	fw.uuid.data = (uint8_t *)uuid;
	fw.uuid.len = 16;
	fw.kind = (uint32_t)kind;
	fw.hva = hva;
	fw.lsb = lsb;
	req.body_case = RAS__REQUEST__BODY_FORWARD;
	req.forward = &fw;
	return wire_call(fd, &req);
}

static int
error_code(Ras__Response *resp)
{
	return resp != NULL && resp->body_case == RAS__RESPONSE__BODY_ERROR ?
	    (int)resp->error->code : -1;
}

static void
register_ok(int fd, uint8_t uuid[16], const char *name)
{
	size_t len;
	uint8_t *hest = wire_read_file(HEST_SEA_GPIO, &len);
	Ras__Response *resp;

	cr_assert_not_null(hest);
	resp = do_register(fd, uuid, name, hest, len);
	cr_assert_not_null(resp);
	cr_assert_eq(resp->body_case, RAS__RESPONSE__BODY_REGISTERED,
	    "register failed: %s", error_code(resp) >= 0 ?
	    resp->error->message : "?");
	ras__response__free_unpacked(resp, NULL);
	free(hest);
}

Test(wire, garbage_payload_is_answered_and_connection_survives)
{
	int fd = wire_connect(&rasd);
	uint8_t junk[] = { 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	Ras__Response *resp;

	cr_assert_geq(fd, 0);
	cr_assert_eq(wire_send_raw(fd, junk, sizeof junk), 0);
	resp = wire_recv(fd, 5000);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_PROTOCOL);
	cr_assert(strstr(resp->error->message, "malformed") != NULL);
	ras__response__free_unpacked(resp, NULL);
	/* The same connection still works. */
	cr_assert_eq(list_vms(fd), 0);
	cr_assert_geq(wire_log_count(&rasd, "malformed message"), 1);
	close(fd);
}

Test(wire, oversized_frame_closes_only_that_connection)
{
	int bad = wire_connect(&rasd), good = wire_connect(&rasd);
	uint8_t hdr[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
	Ras__Response *resp;

	cr_assert_geq(bad, 0);
	cr_assert_geq(good, 0);
	cr_assert_eq(wire_send_raw(bad, hdr, sizeof hdr), 0);
	resp = wire_recv(bad, 5000);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_PROTOCOL);
	cr_assert(strstr(resp->error->message, "4294967295") != NULL,
	    "message: %s", resp->error->message);
	ras__response__free_unpacked(resp, NULL);
	cr_assert(wire_closed(bad, 5000), "oversized frame left it open");
	cr_assert_eq(list_vms(good), 0);
	close(bad);
	close(good);
}

Test(wire, empty_frame_is_refused)
{
	int fd = wire_connect(&rasd);
	uint8_t hdr[] = { 0, 0, 0, 0 };
	Ras__Response *resp;

	cr_assert_eq(wire_send_raw(fd, hdr, sizeof hdr), 0);
	resp = wire_recv(fd, 5000);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_PROTOCOL);
	ras__response__free_unpacked(resp, NULL);
	cr_assert(wire_closed(fd, 5000));
	close(fd);
}

Test(wire, truncated_frame_then_hangup_leaves_daemon_serving)
{
	int fd = wire_connect(&rasd), fd2;
	uint8_t part[] = { 0, 0, 1, 0, 8, 1 };

	cr_assert_eq(wire_send_raw(fd, part, sizeof part), 0);
	close(fd);
	fd2 = wire_connect(&rasd);
	cr_assert_eq(list_vms(fd2), 0);
	close(fd2);
}

Test(wire, wrong_version_is_refused)
{
	int fd = wire_connect(&rasd);
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__ListVms lv = RAS__LIST_VMS__INIT;
	Ras__Response *resp;

	req.version = 99;
	req.id = 7;
	req.body_case = RAS__REQUEST__BODY_LIST_VMS;
	req.list_vms = &lv;
	cr_assert_eq(wire_send(fd, &req), 0);
	resp = wire_recv(fd, 5000);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_VERSION);
	cr_assert_eq(resp->id, 7);
	ras__response__free_unpacked(resp, NULL);
	close(fd);
}

Test(wire, forward_without_registration_is_refused)
{
	int fd = wire_connect(&rasd);
	uint8_t uuid[16] = { 1 };
	Ras__Response *resp;

	resp = do_forward(fd, uuid, RAS_KIND_AR, (uintptr_t)ram, 12);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_NOT_REGISTERED);
	ras__response__free_unpacked(resp, NULL);
	close(fd);
}

Test(wire, vmm_cannot_forward_for_another_vm)
{
	int a = wire_connect(&rasd), b;
	uint8_t ua[16] = { 0xaa, 1 }, ub[16] = { 0xbb, 2 };
	Ras__Response *resp;
	pid_t child;
	int st, p[2];
	char c;

	register_ok(a, ua, "vm-a");
	/* A second VMM (another process) registers vm-b. */
	cr_assert_eq(pipe(p), 0);
	if ((child = fork()) == 0) {
		b = wire_connect(&rasd);
		register_ok(b, ub, "vm-b");
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(p[0], &c, 1), 1);
	/* vm-a's VMM forwards for vm-b's UUID. */
	resp = do_forward(a, ub, RAS_KIND_AR, (uintptr_t)ram + 0x1000, 12);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_WRONG_VM);
	cr_assert(strstr(resp->error->message, "denied") != NULL);
	ras__response__free_unpacked(resp, NULL);
	/* ... and cannot take over vm-b's registration either. */
	b = wire_connect(&rasd);
	resp = do_register(b, ub, "vm-b", NULL, 0);
	cr_assert(error_code(resp) == RAS__ERROR_CODE__ERR_BUSY,
	    "second registration of a live VM: code %d", error_code(resp));
	ras__response__free_unpacked(resp, NULL);
	kill(child, SIGTERM);
	waitpid(child, &st, 0);
	close(b);
	close(a);
	cr_assert_geq(wire_log_count(&rasd, "denied"), 1);
}

Test(wire, registration_with_someone_elses_pid_is_refused)
{
	int fd = wire_connect(&rasd);
	Ras__Request req = RAS__REQUEST__INIT;
	Ras__Register reg;
	Ras__Slot slot, *slotv[1];
	uint8_t uuid[16] = { 3 };
	Ras__Response *resp;

	wire_register_init(&reg, &slot, slotv, uuid, "vm-pid", NULL, 0,
	    (uintptr_t)ram, RAM_SIZE);
	reg.pid = 1;
	req.body_case = RAS__REQUEST__BODY_REGISTER;
	req.register_ = &reg;
	resp = wire_call(fd, &req);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_DENIED);
	ras__response__free_unpacked(resp, NULL);
	close(fd);
}

Test(wire, bad_hest_checksum_is_refused_with_reason)
{
	int fd = wire_connect(&rasd);
	uint8_t uuid[16] = { 4 };
	size_t len;
	uint8_t *hest = wire_read_file(HEST_SEA_GPIO, &len);
	Ras__Response *resp;

	hest[9] ^= 0x5a;	/* the checksum byte */
	resp = do_register(fd, uuid, "vm-bad", hest, len);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_BAD_HEST);
	cr_assert(strstr(resp->error->message, "checksum") != NULL,
	    "message: %s", resp->error->message);
	ras__response__free_unpacked(resp, NULL);
	/* Refused registrations leave no VM behind. */
	cr_assert_eq(list_vms(fd), 0);
	free(hest);
	close(fd);
}

Test(wire, forward_outside_every_slot_is_an_error)
{
	int fd = wire_connect(&rasd);
	uint8_t uuid[16] = { 5 };
	Ras__Response *resp;

	register_ok(fd, uuid, "vm-range");
	resp = do_forward(fd, uuid, RAS_KIND_AR, (uintptr_t)ram + RAM_SIZE,
	    12);
	cr_assert_eq(error_code(resp), RAS__ERROR_CODE__ERR_OUT_OF_RANGE);
	ras__response__free_unpacked(resp, NULL);
	cr_assert_geq(wire_log_count(&rasd, "outside every memory slot"), 1);
	close(fd);
}

Test(wire, ar_and_ao_follow_the_boot_hest)
{
	int fd = wire_connect(&rasd);
	uint8_t uuid[16] = { 6 };
	Ras__Response *resp;
	Ras__Decision *d;
	uint8_t want[CPER_BLOCK_LEN];

	register_ok(fd, uuid, "vm-dec");
	resp = do_forward(fd, uuid, RAS_KIND_AR, (uintptr_t)ram + 0x5123, 12);
	cr_assert_eq(resp->body_case, RAS__RESPONSE__BODY_DECISION);
	d = resp->decision;
	cr_assert_eq(d->action, RAS_ACTION_INJECT);
	cr_assert_eq(d->notify, RAS_NOTIFY_SEA);
	cr_assert_eq(d->source_id, 0);
	cr_assert_eq(d->gpa, 0x40005000);
	cr_assert_eq(d->length, 4096);
	cr_assert_eq(d->repeat, 0);
	cr_assert(d->has_addr);
	cr_assert_eq(d->addr, 0x40005123, "the exact address");
	cr_assert(d->has_cper);
	cr_assert_eq(d->cper.len, CPER_BLOCK_LEN);
	cr_assert_eq(cper_memory_error(0x40005123, 4096, want, sizeof want),
	    CPER_BLOCK_LEN);
	cr_assert_arr_eq(d->cper.data, want, CPER_BLOCK_LEN);
	ras__response__free_unpacked(resp, NULL);

	/* The same page again: answered, not recorded twice. */
	resp = do_forward(fd, uuid, RAS_KIND_AR, (uintptr_t)ram + 0x5000, 12);
	cr_assert_eq(resp->body_case, RAS__RESPONSE__BODY_DECISION);
	cr_assert_eq(resp->decision->repeat, 1);
	cr_assert_eq(resp->decision->notify, RAS_NOTIFY_SEA);
	ras__response__free_unpacked(resp, NULL);

	resp = do_forward(fd, uuid, RAS_KIND_AO, (uintptr_t)ram + 0x200000,
	    21);
	d = resp->decision;
	cr_assert_eq(resp->body_case, RAS__RESPONSE__BODY_DECISION);
	cr_assert_eq(d->notify, RAS_NOTIFY_GPIO);
	cr_assert_eq(d->source_id, 1);
	cr_assert_eq(d->gpa, 0x40200000);
	cr_assert_eq(d->length, 2u << 20);
	ras__response__free_unpacked(resp, NULL);
	close(fd);
}

Test(wire, operator_commands_are_denied_to_other_users)
{
	const char *const extra[] = { NULL };
	int fd, st;
	pid_t child;

	(void)extra;
	if (geteuid() != 0)
		cr_skip_test("needs root to switch to another uid");
	chmod(rasd.sock, 0666);
	chmod(rasd.dir, 0755);
	if ((child = fork()) == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		fd = wire_connect(&rasd);
		if (fd == -1)
			_exit(11);
		_exit(list_vms(fd) == -1 ? 0 : 12);
	}
	waitpid(child, &st, 0);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "unprivileged list: exit %d",
	    WEXITSTATUS(st));
	cr_assert_geq(wire_log_count(&rasd, "operator commands need root"), 1);
}
