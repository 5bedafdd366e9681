/*
 * Intel ACPI Component Architecture
 * AML/ASL+ Disassembler version 20200925 (64-bit version)
 * Copyright (c) 2000 - 2020 Intel Corporation
 * 
 *
 * ACPI Data Table [HEST]
 *
 * Format: [HexOffset DecimalOffset ByteLength]  FieldName : FieldValue
 */

[000h 0000   4]                    Signature : "HEST"    [Hardware Error Source Table]
[004h 0004   4]                 Table Length : 000000E0
[008h 0008   1]                     Revision : 01
[009h 0009   1]                     Checksum : 6C
[00Ah 0010   6]                       Oem ID : "BOCHS "
[010h 0016   8]                 Oem Table ID : "BXPC    "
[018h 0024   4]                 Oem Revision : 00000001
[01Ch 0028   4]              Asl Compiler ID : "BXPC"
[020h 0032   4]        Asl Compiler Revision : 00000001

[024h 0036   4]           Error Source Count : 00000002

[028h 0040   2]                Subtable Type : 000A [Generic Hardware Error Source V2]
[02Ah 0042   2]                    Source Id : 0000
[02Ch 0044   2]            Related Source Id : FFFF
[02Eh 0046   1]                     Reserved : 00
[02Fh 0047   1]                      Enabled : 01
[030h 0048   4]       Records To Preallocate : 00000001
[034h 0052   4]      Max Sections Per Record : 00000001
[038h 0056   4]          Max Raw Data Length : 00000400

[03Ch 0060  12]         Error Status Address : [Generic Address Structure]
[03Ch 0060   1]                     Space ID : 00 [SystemMemory]
[03Dh 0061   1]                    Bit Width : 40
[03Eh 0062   1]                   Bit Offset : 00
[03Fh 0063   1]         Encoded Access Width : 04 [QWord Access:64]
[040h 0064   8]                      Address : 0000000043DA0000

[048h 0072  28]                       Notify : [Hardware Error Notification Structure]
[048h 0072   1]                  Notify Type : 08 [SEA]
[049h 0073   1]                Notify Length : 1C
[04Ah 0074   2]   Configuration Write Enable : 0000
[04Ch 0076   4]                 PollInterval : 00000000
[050h 0080   4]                       Vector : 00000000
[054h 0084   4]      Polling Threshold Value : 00000000
[058h 0088   4]     Polling Threshold Window : 00000000
[05Ch 0092   4]        Error Threshold Value : 00000000
[060h 0096   4]       Error Threshold Window : 00000000

[064h 0100   4]    Error Status Block Length : 00000400
[068h 0104  12]            Read Ack Register : [Generic Address Structure]
[068h 0104   1]                     Space ID : 00 [SystemMemory]
[069h 0105   1]                    Bit Width : 40
[06Ah 0106   1]                   Bit Offset : 00
[06Bh 0107   1]         Encoded Access Width : 04 [QWord Access:64]
[06Ch 0108   8]                      Address : 0000000043DA0010

[074h 0116   8]            Read Ack Preserve : FFFFFFFFFFFFFFFE
[07Ch 0124   8]               Read Ack Write : 0000000000000001

[084h 0132   2]                Subtable Type : 000A [Generic Hardware Error Source V2]
[086h 0134   2]                    Source Id : 0001
[088h 0136   2]            Related Source Id : FFFF
[08Ah 0138   1]                     Reserved : 00
[08Bh 0139   1]                      Enabled : 01
[08Ch 0140   4]       Records To Preallocate : 00000001
[090h 0144   4]      Max Sections Per Record : 00000001
[094h 0148   4]          Max Raw Data Length : 00000400

[098h 0152  12]         Error Status Address : [Generic Address Structure]
[098h 0152   1]                     Space ID : 00 [SystemMemory]
[099h 0153   1]                    Bit Width : 40
[09Ah 0154   1]                   Bit Offset : 00
[09Bh 0155   1]         Encoded Access Width : 04 [QWord Access:64]
[09Ch 0156   8]                      Address : 0000000043DA0008

[0A4h 0164  28]                       Notify : [Hardware Error Notification Structure]
[0A4h 0164   1]                  Notify Type : 07 [GPIO]
[0A5h 0165   1]                Notify Length : 1C
[0A6h 0166   2]   Configuration Write Enable : 0000
[0A8h 0168   4]                 PollInterval : 00000000
[0ACh 0172   4]                       Vector : 00000000
[0B0h 0176   4]      Polling Threshold Value : 00000000
[0B4h 0180   4]     Polling Threshold Window : 00000000
[0B8h 0184   4]        Error Threshold Value : 00000000
[0BCh 0188   4]       Error Threshold Window : 00000000

[0C0h 0192   4]    Error Status Block Length : 00000400
[0C4h 0196  12]            Read Ack Register : [Generic Address Structure]
[0C4h 0196   1]                     Space ID : 00 [SystemMemory]
[0C5h 0197   1]                    Bit Width : 40
[0C6h 0198   1]                   Bit Offset : 00
[0C7h 0199   1]         Encoded Access Width : 04 [QWord Access:64]
[0C8h 0200   8]                      Address : 0000000043DA0018

[0D0h 0208   8]            Read Ack Preserve : FFFFFFFFFFFFFFFE
[0D8h 0216   8]               Read Ack Write : 0000000000000001

Raw Table Data: Length 224 (0xE0)

    0000: 48 45 53 54 E0 00 00 00 01 6C 42 4F 43 48 53 20  // HEST.....lBOCHS 
    0010: 42 58 50 43 20 20 20 20 01 00 00 00 42 58 50 43  // BXPC    ....BXPC
    0020: 01 00 00 00 02 00 00 00 0A 00 00 00 FF FF 00 01  // ................
    0030: 01 00 00 00 01 00 00 00 00 04 00 00 00 40 00 04  // .............@..
    0040: 00 00 DA 43 00 00 00 00 08 1C 00 00 00 00 00 00  // ...C............
    0050: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  // ................
    0060: 00 00 00 00 00 04 00 00 00 40 00 04 10 00 DA 43  // .........@.....C
    0070: 00 00 00 00 FE FF FF FF FF FF FF FF 01 00 00 00  // ................
    0080: 00 00 00 00 0A 00 01 00 FF FF 00 01 01 00 00 00  // ................
    0090: 01 00 00 00 00 04 00 00 00 40 00 04 08 00 DA 43  // .........@.....C
    00A0: 00 00 00 00 07 1C 00 00 00 00 00 00 00 00 00 00  // ................
    00B0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  // ................
    00C0: 00 04 00 00 00 40 00 04 18 00 DA 43 00 00 00 00  // .....@.....C....
    00D0: FE FF FF FF FF FF FF FF 01 00 00 00 00 00 00 00  // ................
