/*
 * x86 firmware-first HEST: every IA-32 source type plus GHES/GHESv2 with
 * NMI, SCI and polled notification, and one disabled GHES that must not
 * reach the boot profile.  Table Length and Checksum are recomputed by iasl.
 *
 * Expected profile (source id, notify, HEST type):
 *   3 NMI 9 | 4 SCI 9 | 5 POLLED 10.
 * Skipped: 0 (firmware-first MCE, the GHES NMI takes its place), 1 (CMC:
 * corrected only), 2 (IA-32 NMI: no error status block), 6 (deferred MC),
 * 7 (GHES, external interrupt, disabled).
 */
[0004]                          Signature : "HEST"    [Hardware Error Source Table]
[0004]                       Table Length : 00000000
[0001]                           Revision : 01
[0001]                           Checksum : 00
[0006]                             Oem ID : "RASD  "
[0008]                       Oem Table ID : "X86FFM  "
[0004]                       Oem Revision : 00000001
[0004]                    Asl Compiler ID : "INTL"
[0004]              Asl Compiler Revision : 20200925

[0004]                 Error Source Count : 00000008

[0002]                      Subtable Type : 0000 [IA-32 Machine Check Exception]
[0002]                          Source Id : 0000
[0002]                          Reserved1 : 0000
[0001]              Flags (decoded below) : 01
                           Firmware First : 1
                              GHES Assist : 0
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0008]             Global Capability Data : 0000000000000C0A
[0008]                Global Control Data : FFFFFFFFFFFFFFFF
[0001]                 Num Hardware Banks : 03
[0007]                          Reserved2 : 00000000000000

[0001]                        Bank Number : 00
[0001]               Clear Status On Init : 01
[0001]                      Status Format : 00
[0001]                           Reserved : 00
[0004]                   Control Register : 00000400
[0008]                       Control Data : FFFFFFFFFFFFFFFF
[0004]                    Status Register : 00000401
[0004]                   Address Register : 00000402
[0004]                      Misc Register : 00000403

[0001]                        Bank Number : 01
[0001]               Clear Status On Init : 01
[0001]                      Status Format : 00
[0001]                           Reserved : 00
[0004]                   Control Register : 00000404
[0008]                       Control Data : FFFFFFFFFFFFFFFF
[0004]                    Status Register : 00000405
[0004]                   Address Register : 00000406
[0004]                      Misc Register : 00000407

[0001]                        Bank Number : 02
[0001]               Clear Status On Init : 01
[0001]                      Status Format : 00
[0001]                           Reserved : 00
[0004]                   Control Register : 00000408
[0008]                       Control Data : FFFFFFFFFFFFFFFF
[0004]                    Status Register : 00000409
[0004]                   Address Register : 0000040A
[0004]                      Misc Register : 0000040B

[0002]                      Subtable Type : 0001 [IA-32 Corrected Machine Check]
[0002]                          Source Id : 0001
[0002]                          Reserved1 : 0000
[0001]              Flags (decoded below) : 01
                           Firmware First : 1
                              GHES Assist : 0
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 05 [CMCI]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 00000000
[0004]                             Vector : 00000000
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000001
[0004]             Error Threshold Window : 00000000

[0001]                 Num Hardware Banks : 02
[0003]                          Reserved2 : 000000

[0001]                        Bank Number : 00
[0001]               Clear Status On Init : 00
[0001]                      Status Format : 00
[0001]                           Reserved : 00
[0004]                   Control Register : 00000400
[0008]                       Control Data : 0000000000000000
[0004]                    Status Register : 00000401
[0004]                   Address Register : 00000402
[0004]                      Misc Register : 00000403

[0001]                        Bank Number : 01
[0001]               Clear Status On Init : 00
[0001]                      Status Format : 00
[0001]                           Reserved : 00
[0004]                   Control Register : 00000404
[0008]                       Control Data : 0000000000000000
[0004]                    Status Register : 00000405
[0004]                   Address Register : 00000406
[0004]                      Misc Register : 00000407

[0002]                      Subtable Type : 0002 [IA-32 Non-Maskable Interrupt]
[0002]                          Source Id : 0002
[0004]                           Reserved : 00000000
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00001000

[0002]                      Subtable Type : 0009 [Generic Hardware Error Source]
[0002]                          Source Id : 0003
[0002]                  Related Source Id : FFFF
[0001]                           Reserved : 00
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00001000

[0012]               Error Status Address : [Generic Address Structure]
[0001]                           Space ID : 00 [SystemMemory]
[0001]                          Bit Width : 40
[0001]                         Bit Offset : 00
[0001]               Encoded Access Width : 04 [QWord Access:64]
[0008]                            Address : 000000007FFE0000

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 04 [NMI]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 00000000
[0004]                             Vector : 00000000
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0004]          Error Status Block Length : 00001000

[0002]                      Subtable Type : 0009 [Generic Hardware Error Source]
[0002]                          Source Id : 0004
[0002]                  Related Source Id : FFFF
[0001]                           Reserved : 00
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00001000

[0012]               Error Status Address : [Generic Address Structure]
[0001]                           Space ID : 00 [SystemMemory]
[0001]                          Bit Width : 40
[0001]                         Bit Offset : 00
[0001]               Encoded Access Width : 04 [QWord Access:64]
[0008]                            Address : 000000007FFE0008

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 03 [SCI]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 00000000
[0004]                             Vector : 00000000
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0004]          Error Status Block Length : 00001000

[0002]                      Subtable Type : 000A [Generic Hardware Error Source V2]
[0002]                          Source Id : 0005
[0002]                  Related Source Id : FFFF
[0001]                           Reserved : 00
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00001000

[0012]               Error Status Address : [Generic Address Structure]
[0001]                           Space ID : 00 [SystemMemory]
[0001]                          Bit Width : 40
[0001]                         Bit Offset : 00
[0001]               Encoded Access Width : 04 [QWord Access:64]
[0008]                            Address : 000000007FFE0010

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 00 [Polled]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 00001388
[0004]                             Vector : 00000000
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0004]          Error Status Block Length : 00001000
[0012]                  Read Ack Register : [Generic Address Structure]
[0001]                           Space ID : 00 [SystemMemory]
[0001]                          Bit Width : 40
[0001]                         Bit Offset : 00
[0001]               Encoded Access Width : 04 [QWord Access:64]
[0008]                            Address : 000000007FFE0100

[0008]                  Read Ack Preserve : FFFFFFFFFFFFFFFE
[0008]                     Read Ack Write : 0000000000000001

[0002]                      Subtable Type : 000B [IA-32 Deferred Machine Check]
[0002]                          Source Id : 0006
[0002]                          Reserved1 : 0000
[0001]              Flags (decoded below) : 01
                           Firmware First : 1
                              GHES Assist : 0
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 00 [Polled]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 000003E8
[0004]                             Vector : 00000000
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0001]                 Num Hardware Banks : 01
[0003]                          Reserved2 : 000000

[0001]                        Bank Number : 03
[0001]               Clear Status On Init : 00
[0001]                      Status Format : 00
[0001]                           Reserved : 00
[0004]                   Control Register : 0000040C
[0008]                       Control Data : 0000000000000000
[0004]                    Status Register : 0000040D
[0004]                   Address Register : 0000040E
[0004]                      Misc Register : 0000040F

[0002]                      Subtable Type : 0009 [Generic Hardware Error Source]
[0002]                          Source Id : 0007
[0002]                  Related Source Id : FFFF
[0001]                           Reserved : 00
[0001]                            Enabled : 00
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00001000

[0012]               Error Status Address : [Generic Address Structure]
[0001]                           Space ID : 00 [SystemMemory]
[0001]                          Bit Width : 40
[0001]                         Bit Offset : 00
[0001]               Encoded Access Width : 04 [QWord Access:64]
[0008]                            Address : 000000007FFE0018

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 01 [External Interrupt]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 00000000
[0004]                             Vector : 00000005
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0004]          Error Status Block Length : 00001000
