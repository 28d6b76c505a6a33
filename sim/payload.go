package sim

import (
	"encoding/json"
	"strconv"
	"time"
)

// liveLocation is LocoNav's live-location webhook body, keys in the order of
// its documented example.
type liveLocation struct {
	IMEI              string      `json:"imei"`
	Speed             json.Number `json:"speed"`
	GPSTime           string      `json:"gpstime"`
	Ignition          string      `json:"ignition"`
	Latitude          json.Number `json:"latitude"`
	Longitude         json.Number `json:"longitude"`
	SharpTurn         string      `json:"sharpTurn"`
	Orientation       json.Number `json:"orientation"`
	HarshBraking      string      `json:"harshBraking"`
	VehicleNumber     string      `json:"vehiclenumber"`
	RockBreakerPedal  string      `json:"rockBreakerPedal"`
	HarshAcceleration string      `json:"harshAcceleration"`
}

// GPSTimeLayout is how LocoNav writes gpstime: local time, no zone.
const GPSTimeLayout = "02-01-2006 15:04:05"

// LiveLocationPayload renders f as LocoNav posts it to the live-location
// webhook: gpstime in zone (UTC if nil) without a zone suffix, flags as the
// strings "1"/"0", speed and orientation with one decimal as in LocoNav's
// example.
func LiveLocationPayload(f Fix, zone *time.Location) []byte {
	if zone == nil {
		zone = time.UTC
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	num := func(v float64, prec int) json.Number { return json.Number(strconv.FormatFloat(v, 'f', prec, 64)) }
	b, err := json.Marshal(liveLocation{
		IMEI:              f.IMEI,
		Speed:             num(f.SpeedKmh, 1),
		GPSTime:           f.At.In(zone).Format(GPSTimeLayout),
		Ignition:          flag(f.Ignition),
		Latitude:          num(f.Point.Lat, 6),
		Longitude:         num(f.Point.Lon, 6),
		SharpTurn:         "0",
		Orientation:       num(f.Heading, 1),
		HarshBraking:      "0",
		VehicleNumber:     f.VehicleNumber,
		RockBreakerPedal:  "0",
		HarshAcceleration: "0",
	})
	if err != nil {
		panic("sim: live-location payload: " + err.Error()) // only numbers that are not finite could fail
	}
	return b
}
