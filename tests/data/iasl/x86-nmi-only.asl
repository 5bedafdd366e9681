/*
 * x86 HEST whose only source is an IA-32 NMI: it has no error status block
 * to carry a record, so the table is valid and the boot profile is empty.
 */
[0004]                          Signature : "HEST"    [Hardware Error Source Table]
[0004]                       Table Length : 00000000
[0001]                           Revision : 01
[0001]                           Checksum : 00
[0006]                             Oem ID : "RASD  "
[0008]                       Oem Table ID : "X86NMI  "
[0004]                       Oem Revision : 00000001
[0004]                    Asl Compiler ID : "INTL"
[0004]              Asl Compiler Revision : 20200925

[0004]                 Error Source Count : 00000001

[0002]                      Subtable Type : 0002 [IA-32 Non-Maskable Interrupt]
[0002]                          Source Id : 0000
[0004]                           Reserved : 00000000
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00001000
