package wire

import (
	"errors"
	"fmt"
	"reflect"
)

// MsgType identifies the message carried by a frame. Values are
// append-only: once released a value keeps its meaning forever.
type MsgType uint8

// Message types. Append new ones at the end (see the package documentation).
const (
	// TypeInvalid is never sent; a frame carrying it is malformed.
	TypeInvalid MsgType = 0

	TypeError         MsgType = 1
	TypePing          MsgType = 2
	TypePong          MsgType = 3
	TypeWriteRequest  MsgType = 4
	TypeWriteResponse MsgType = 5
	TypeReadRequest   MsgType = 6
	TypeReadResponse  MsgType = 7
	TypeRangeRequest  MsgType = 8
	TypeRangeResponse MsgType = 9

	// Anti-entropy (package antientropy), node to node.
	TypeAESummaryRequest  MsgType = 10
	TypeAESummaryResponse MsgType = 11
	TypeAENodesRequest    MsgType = 12
	TypeAENodesResponse   MsgType = 13
	TypeAEEntriesRequest  MsgType = 14
	TypeAEEntriesResponse MsgType = 15
	TypeAEReadRequest     MsgType = 16
	TypeAEReadResponse    MsgType = 17
	TypeAEApplyRequest    MsgType = 18
	TypeAEApplyResponse   MsgType = 19
	TypeAERootsRequest    MsgType = 20
	TypeAERootsResponse   MsgType = 21
)

// Message is a node-to-node message. The concrete types are the pointer
// types of this package (*Ping, *WriteRequest, ...); decoding always returns
// a pointer, so type switches use the pointer types. Only this package's
// types can be encoded.
type Message interface {
	Type() MsgType
}

// codec is implemented by every registered message type.
type codec interface {
	Message
	encodeBody(e *encoder)
	decodeBody(d *decoder)
}

// msgInfo describes one registered message type.
type msgInfo struct {
	name string
	new  func() codec
}

// registry maps each MsgType to its struct. It is written once here and
// never modified.
var registry = [...]msgInfo{
	TypeError:         {"ErrorResponse", func() codec { return new(ErrorResponse) }},
	TypePing:          {"Ping", func() codec { return new(Ping) }},
	TypePong:          {"Pong", func() codec { return new(Pong) }},
	TypeWriteRequest:  {"WriteRequest", func() codec { return new(WriteRequest) }},
	TypeWriteResponse: {"WriteResponse", func() codec { return new(WriteResponse) }},
	TypeReadRequest:   {"ReadRequest", func() codec { return new(ReadRequest) }},
	TypeReadResponse:  {"ReadResponse", func() codec { return new(ReadResponse) }},
	TypeRangeRequest:  {"RangeRequest", func() codec { return new(RangeRequest) }},
	TypeRangeResponse: {"RangeResponse", func() codec { return new(RangeResponse) }},

	TypeAESummaryRequest:  {"AESummaryRequest", func() codec { return new(AESummaryRequest) }},
	TypeAESummaryResponse: {"AESummaryResponse", func() codec { return new(AESummaryResponse) }},
	TypeAENodesRequest:    {"AENodesRequest", func() codec { return new(AENodesRequest) }},
	TypeAENodesResponse:   {"AENodesResponse", func() codec { return new(AENodesResponse) }},
	TypeAEEntriesRequest:  {"AEEntriesRequest", func() codec { return new(AEEntriesRequest) }},
	TypeAEEntriesResponse: {"AEEntriesResponse", func() codec { return new(AEEntriesResponse) }},
	TypeAEReadRequest:     {"AEReadRequest", func() codec { return new(AEReadRequest) }},
	TypeAEReadResponse:    {"AEReadResponse", func() codec { return new(AEReadResponse) }},
	TypeAEApplyRequest:    {"AEApplyRequest", func() codec { return new(AEApplyRequest) }},
	TypeAEApplyResponse:   {"AEApplyResponse", func() codec { return new(AEApplyResponse) }},
	TypeAERootsRequest:    {"AERootsRequest", func() codec { return new(AERootsRequest) }},
	TypeAERootsResponse:   {"AERootsResponse", func() codec { return new(AERootsResponse) }},
}

// registeredTypes holds the concrete type of each registry entry, so that
// AppendFrame refuses types that merely embed a message.
var registeredTypes = func() (ts [len(registry)]reflect.Type) {
	for i, info := range registry {
		if info.new != nil {
			ts[i] = reflect.TypeOf(info.new())
		}
	}
	return ts
}()

func lookup(t MsgType) (msgInfo, bool) {
	if int(t) >= len(registry) || registry[t].new == nil {
		return msgInfo{}, false
	}
	return registry[t], true
}

// Known reports whether t is a registered message type.
func (t MsgType) Known() bool {
	_, ok := lookup(t)
	return ok
}

// String returns the message name, or "MsgType(n)" for an unknown type.
func (t MsgType) String() string {
	if info, ok := lookup(t); ok {
		return info.name
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Types returns every registered message type in increasing order.
func Types() []MsgType {
	var ts []MsgType
	for i := range registry {
		if registry[i].new != nil {
			ts = append(ts, MsgType(i))
		}
	}
	return ts
}

// New returns a fresh zero message of type t, or an error wrapping
// ErrUnknownType.
func New(t MsgType) (Message, error) {
	info, ok := lookup(t)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownType, t)
	}
	return info.new(), nil
}

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrFrameTooLarge: a frame's length exceeds the reader's MaxFrameSize,
	// or an encoded frame exceeds what the 32-bit length field can carry.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrBadFrame: a frame header is malformed (length too short, invalid
	// type or flags) or a frame is truncated.
	ErrBadFrame = errors.New("wire: malformed frame")
	// ErrUnknownType: the frame's type is not registered, or a message to
	// encode is not one of this package's types.
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrMalformed: a body is not a valid encoding of its message type.
	ErrMalformed = errors.New("wire: malformed message body")
)
