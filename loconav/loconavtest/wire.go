package loconavtest

import (
	"encoding/json"
	"strconv"
)

// The wire shapes of GET /vehicles and last_known, field for field in the
// published examples' order, so that encoding the examples' values gives
// back the examples' bytes (TestFakeMatchesFixtures).

type fixtureVehicle struct {
	Number        string `json:"number"`
	DisplayNumber string `json:"displayNumber"`
	VehicleUUID   string `json:"vehicleUuid"`
	Subscription  struct {
		ExpiresAt string `json:"expiresAt"`
	} `json:"subscription"`
	VehicleType   string `json:"vehicleType"`
	CurrentDevice struct {
		SerialNumber string `json:"serialNumber"`
		CountryCode  string `json:"countryCode"`
		PhoneNumber  string `json:"phoneNumber"`
		DeviceType   string `json:"deviceType"`
	} `json:"currentDevice"`
}

type fixturePagination struct {
	PerPage     int `json:"perPage"`
	TotalCount  int `json:"totalCount"`
	CurrentPage int `json:"currentPage"`
}

type fixtureSensor struct {
	Unit      string      `json:"unit,omitempty"`
	Value     json.Number `json:"value"`
	Timestamp int64       `json:"timestamp"`
}

type fixtureStringSensor struct {
	Value     string `json:"value"`
	Timestamp int64  `json:"timestamp,omitempty"`
}

type fixtureCoordinates struct {
	Lat  fixtureSensor `json:"lat"`
	Long fixtureSensor `json:"long"`
}

type fixtureLastKnownValue struct {
	VehicleNumber string `json:"vehicleNumber"`
	VehicleID     string `json:"vehicleId"`
	GPS           struct {
		Speed                      fixtureSensor       `json:"speed"`
		Ignition                   fixtureStringSensor `json:"ignition"`
		Orientation                fixtureStringSensor `json:"orientation"`
		CurrentLocationCoordinates *fixtureCoordinates `json:"currentLocationCoordinates,omitempty"`
	} `json:"gps"`
}

type fixtureLastKnownPagination struct {
	Page    int  `json:"page"`
	PerPage int  `json:"perPage"`
	Count   int  `json:"count"`
	More    bool `json:"more"`
}

func encodeVehicles(vs []fixtureVehicle, p fixturePagination) []byte {
	return encodeEnvelope(true, struct {
		Vehicles   []fixtureVehicle  `json:"vehicles"`
		Pagination fixturePagination `json:"pagination"`
	}{vs, p})
}

func encodeLastKnown(vs []json.RawMessage, p fixtureLastKnownPagination) []byte {
	if vs == nil {
		vs = []json.RawMessage{}
	}
	return encodeEnvelope(true, struct {
		Values     []json.RawMessage          `json:"values"`
		Pagination fixtureLastKnownPagination `json:"pagination"`
	}{vs, p})
}

// vehicleFromTemplate is the example's DRC5 with another number and uuid.
func vehicleFromTemplate(uuid, number string) fixtureVehicle {
	var fv fixtureVehicle
	fv.Number, fv.DisplayNumber, fv.VehicleUUID = number, number, uuid
	fv.Subscription.ExpiresAt = "2025-02-08T21:38:36.000+05:30"
	fv.VehicleType = "truck_generic"
	fv.CurrentDevice.SerialNumber = "MOCKDEVICE" + number
	fv.CurrentDevice.CountryCode = "IN"
	fv.CurrentDevice.PhoneNumber = "0001112225"
	fv.CurrentDevice.DeviceType = "Teltonika-FMB920"
	return fv
}

// lastKnownFromFix is the example's VEHICLE03- value with other readings.
// Speed is written with one decimal ("59.0"), as the example writes it.
func lastKnownFromFix(uuid, number string, fix Fix) fixtureLastKnownValue {
	var v fixtureLastKnownValue
	v.VehicleNumber, v.VehicleID = number, uuid
	v.GPS.Speed = fixtureSensor{Unit: "km/h", Value: json.Number(strconv.FormatFloat(fix.Speed, 'f', 1, 64)), Timestamp: fix.SpeedTS}
	v.GPS.Ignition = fixtureStringSensor{Value: fix.Ignition}
	v.GPS.Orientation = fixtureStringSensor{Value: fix.Orientation, Timestamp: fix.SpeedTS}
	if !fix.OmitCoordinates {
		lonTS := fix.CoordTS
		if fix.LonTS != 0 {
			lonTS = fix.LonTS
		}
		v.GPS.CurrentLocationCoordinates = &fixtureCoordinates{
			Lat:  fixtureSensor{Unit: "degrees", Value: json.Number(strconv.FormatFloat(fix.Lat, 'f', -1, 64)), Timestamp: fix.CoordTS},
			Long: fixtureSensor{Unit: "degrees", Value: json.Number(strconv.FormatFloat(fix.Lon, 'f', -1, 64)), Timestamp: lonTS},
		}
	}
	return v
}
