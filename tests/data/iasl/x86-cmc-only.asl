/*
 * x86 HEST whose only source is an IA-32 Corrected Machine Check (CMCI,
 * firmware first, two banks): corrected errors only, so the table is valid
 * and the boot profile is empty.
 */
[0004]                          Signature : "HEST"    [Hardware Error Source Table]
[0004]                       Table Length : 00000000
[0001]                           Revision : 01
[0001]                           Checksum : 00
[0006]                             Oem ID : "RASD  "
[0008]                       Oem Table ID : "X86CMC  "
[0004]                       Oem Revision : 00000001
[0004]                    Asl Compiler ID : "INTL"
[0004]              Asl Compiler Revision : 20200925

[0004]                 Error Source Count : 00000001

[0002]                      Subtable Type : 0001 [IA-32 Corrected Machine Check]
[0002]                          Source Id : 0000
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
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0001]                 Num Hardware Banks : 02
[0003]                          Reserved2 : 000000

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
