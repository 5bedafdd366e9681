/*
 * HEST with one source of every PCIe AER type (root port, endpoint,
 * bridge) followed by one polled GHES.  AER sources are validated and
 * skipped: the expected profile is only (3, POLLED, 9).
 */
[0004]                          Signature : "HEST"    [Hardware Error Source Table]
[0004]                       Table Length : 00000000
[0001]                           Revision : 01
[0001]                           Checksum : 00
[0006]                             Oem ID : "RASD  "
[0008]                       Oem Table ID : "AERGHES "
[0004]                       Oem Revision : 00000001
[0004]                    Asl Compiler ID : "INTL"
[0004]              Asl Compiler Revision : 20200925

[0004]                 Error Source Count : 00000004

[0002]                      Subtable Type : 0006 [PCI Express Root Port AER]
[0002]                          Source Id : 0000
[0002]                           Reserved : 0000
[0001]              Flags (decoded below) : 02
                           Firmware First : 0
                                   Global : 1
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                                Bus : 00000000
[0002]                             Device : 0000
[0002]                           Function : 0000
[0002]                      DeviceControl : 0000
[0002]                           Reserved : 0000
[0004]                 Uncorrectable Mask : 00000000
[0004]             Uncorrectable Severity : 00062030
[0004]                   Correctable Mask : 00002000
[0004]              Advanced Capabilities : 00000000
[0004]                  Root Error Command : 00000007

[0002]                      Subtable Type : 0007 [PCI Express AER (AER Endpoint)]
[0002]                          Source Id : 0001
[0002]                           Reserved : 0000
[0001]              Flags (decoded below) : 00
                           Firmware First : 0
                                   Global : 0
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                                Bus : 00000001
[0002]                             Device : 0000
[0002]                           Function : 0000
[0002]                      DeviceControl : 0000
[0002]                           Reserved : 0000
[0004]                 Uncorrectable Mask : 00000000
[0004]             Uncorrectable Severity : 00062030
[0004]                   Correctable Mask : 00002000
[0004]              Advanced Capabilities : 00000000

[0002]                      Subtable Type : 0008 [PCI Express/PCI-X Bridge AER]
[0002]                          Source Id : 0002
[0002]                           Reserved : 0000
[0001]              Flags (decoded below) : 00
                           Firmware First : 0
                                   Global : 0
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                                Bus : 00000002
[0002]                             Device : 0000
[0002]                           Function : 0000
[0002]                      DeviceControl : 0000
[0002]                           Reserved : 0000
[0004]                 Uncorrectable Mask : 00000000
[0004]             Uncorrectable Severity : 00062030
[0004]                   Correctable Mask : 00002000
[0004]              Advanced Capabilities : 00000000
[0004]             2nd Uncorrectable Mask : 00000000
[0004]         2nd Uncorrectable Severity : 00001000
[0004]          2nd Advanced Capabilities : 00000000

[0002]                      Subtable Type : 0009 [Generic Hardware Error Source]
[0002]                          Source Id : 0003
[0002]                  Related Source Id : FFFF
[0001]                           Reserved : 00
[0001]                            Enabled : 01
[0004]             Records To Preallocate : 00000001
[0004]            Max Sections Per Record : 00000001
[0004]                Max Raw Data Length : 00000400

[0012]               Error Status Address : [Generic Address Structure]
[0001]                           Space ID : 00 [SystemMemory]
[0001]                          Bit Width : 40
[0001]                         Bit Offset : 00
[0001]               Encoded Access Width : 04 [QWord Access:64]
[0008]                            Address : 000000007FFE0000

[0028]                             Notify : [Hardware Error Notification Structure]
[0001]                        Notify Type : 00 [Polled]
[0001]                      Notify Length : 1C
[0002]         Configuration Write Enable : 0000
[0004]                       PollInterval : 00000000
[0004]                             Vector : 00000000
[0004]            Polling Threshold Value : 00000000
[0004]           Polling Threshold Window : 00000000
[0004]              Error Threshold Value : 00000000
[0004]             Error Threshold Window : 00000000

[0004]          Error Status Block Length : 00000400
